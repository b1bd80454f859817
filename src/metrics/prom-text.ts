/**
 * Reading the Prometheus text exposition format: the one parser for everything that reads /metrics
 * (proxy_ctl status, the dashboard page in the browser, the tests and the benchmarks). No Node
 * imports: the dashboard page inlines this module as built.
 */

export interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Samples by metric name (histograms appear as `<name>_bucket`, `<name>_sum`, `<name>_count`). */
export type PromSamples = ReadonlyMap<string, readonly PromSample[]>;

/** Cumulative bucket counts by upper bound (`le`); `+Inf` is the total. */
export type BucketCounts = ReadonlyMap<number, number>;

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+\S+)?$/;
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Label values with the format's escapes (`\\`, `\"`, `\n`) undone. */
function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const match of text.matchAll(LABEL_PAIR)) {
    labels[match[1] as string] = (match[2] as string).replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
  }
  return labels;
}

/** Every sample of the exposition; comment lines (`# HELP`, `# TYPE`) and blank lines are skipped. */
export function parsePromText(text: string): PromSamples {
  const out = new Map<string, PromSample[]>();
  for (const line of text.split('\n')) {
    if (line === '' || line.charCodeAt(0) === 35 /* # */) continue;
    const match = SAMPLE_LINE.exec(line);
    if (match === null) continue;
    const name = match[1] as string;
    const sample: PromSample = { name, labels: parseLabels(match[2] ?? ''), value: Number(match[3]) };
    const list = out.get(name);
    if (list === undefined) out.set(name, [sample]);
    else list.push(sample);
  }
  return out;
}

const TYPE_LINE = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)/;

/** Metric family -> type (`counter`, `histogram`, ...) from the `# TYPE` lines, present even for a family without samples. */
export function parseTypes(text: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = TYPE_LINE.exec(line);
    if (match !== null) types.set(match[1] as string, match[2] as string);
  }
  return types;
}

/** True when `labels` holds every pair of `wanted` (other labels may be present). */
function matches(labels: Readonly<Record<string, string>>, wanted: Readonly<Record<string, string>>): boolean {
  for (const key in wanted) if (labels[key] !== wanted[key]) return false;
  return true;
}

/** The one sample of `name` whose labels are exactly `labels` (no more, no fewer), or undefined. */
export function sampleValue(samples: PromSamples, name: string, labels: Readonly<Record<string, string>> = {}): number | undefined {
  const count = Object.keys(labels).length;
  for (const sample of samples.get(name) ?? []) {
    if (Object.keys(sample.labels).length === count && matches(sample.labels, labels)) return sample.value;
  }
  return undefined;
}

/** The sum of every sample of `name` whose labels include `where` (all of them when `where` is empty). */
export function sumSamples(samples: PromSamples, name: string, where: Readonly<Record<string, string>> = {}): number {
  let total = 0;
  for (const sample of samples.get(name) ?? []) if (matches(sample.labels, where)) total += sample.value;
  return total;
}

/** The cumulative buckets of histogram `name`, summed over every series whose labels include `where`. */
export function histogramBuckets(samples: PromSamples, name: string, where: Readonly<Record<string, string>> = {}): BucketCounts {
  const out = new Map<number, number>();
  for (const sample of samples.get(`${name}_bucket`) ?? []) {
    const le = sample.labels.le;
    if (le === undefined || !matches(sample.labels, where)) continue;
    const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
    out.set(bound, (out.get(bound) ?? 0) + sample.value);
  }
  return out;
}

/** `now` minus `then`, bucket by bucket: the observations made between two scrapes. */
export function bucketDelta(now: BucketCounts, then: BucketCounts | null): BucketCounts {
  if (then === null) return now;
  const out = new Map<number, number>();
  for (const [bound, count] of now) out.set(bound, Math.max(0, count - (then.get(bound) ?? 0)));
  return out;
}

/**
 * Prometheus' histogram_quantile(): find the bucket that holds rank q × total and interpolate linearly
 * inside it (from 0 for the first bucket). A rank in the +Inf bucket gives the highest finite bound.
 * Null when the histogram holds no observation.
 */
export function histogramQuantile(q: number, buckets: BucketCounts): number | null {
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  const total = buckets.get(Number.POSITIVE_INFINITY) ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let previousBound = 0;
  let previousCount = 0;
  let highestFinite: number | null = null;
  for (const bound of bounds) {
    if (bound === Number.POSITIVE_INFINITY) break;
    highestFinite = bound;
    const cumulative = buckets.get(bound) ?? 0;
    if (cumulative >= rank) {
      const inBucket = cumulative - previousCount;
      return inBucket <= 0 ? bound : previousBound + (bound - previousBound) * ((rank - previousCount) / inBucket);
    }
    previousBound = bound;
    previousCount = cumulative;
  }
  return highestFinite;
}

/**
 * The samples of the families named in `names` only, found with native string search instead of reading
 * every line: an engine's /metrics runs to a hundred kilobytes of histograms, of which a load reading
 * needs a few gauges. A name matches only at the start of a line and followed by `{` or a space, so
 * `# HELP` lines and longer names that start the same are passed over; a family's samples are one group
 * of lines (the text format's rule), so the search for a name ends with its group.
 */
export function parsePromFamilies(text: string, names: Iterable<string>): PromSamples {
  const out = new Map<string, PromSample[]>();
  for (const name of names) {
    let from = 0;
    let found = false;
    for (;;) {
      const at = text.indexOf(name, from);
      if (at === -1) break;
      const lineEnd = text.indexOf('\n', at);
      const end = lineEnd === -1 ? text.length : lineEnd;
      from = end;
      const next = text.charCodeAt(at + name.length);
      const lineStart = at === 0 || text.charCodeAt(at - 1) === 10; /* \n */
      if (!lineStart || (next !== 123 /* { */ && next !== 32 && next !== 9)) {
        // Past the family's group: a line of another family.
        if (found && lineStart) break;
        continue;
      }
      found = true;
      const match = SAMPLE_LINE.exec(text.slice(at, end).trimEnd());
      if (match === null) continue;
      const sample: PromSample = { name, labels: parseLabels(match[2] ?? ''), value: Number(match[3]) };
      const list = out.get(name);
      if (list === undefined) out.set(name, [sample]);
      else list.push(sample);
      // The group goes on only if the very next line is this family's too.
      if (!text.startsWith(name, end + 1)) break;
    }
  }
  return out;
}
