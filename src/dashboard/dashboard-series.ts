/**
 * The dashboard's numbers, computed the same way in the browser (from its own polls of /metrics) and in
 * the primary (the history ring behind GET /dashboard/history): a scrape is reduced to a small reading,
 * and two readings give one point of every series. Pure and Node-free: the page inlines this module as
 * built (src/dashboard/page/tsconfig.json compiles it without Node types).
 */
import {
  type BucketCounts,
  bucketDelta,
  histogramBuckets,
  histogramQuantile,
  type PromSample,
  type PromSamples,
  sumSamples,
} from '../metrics/prom-text.js';

/** How far back the dashboard looks: the page's time axis and the primary's history ring. */
export const HISTORY_MS = 15 * 60_000;
/** Quantiles cover the last 30 s, so that one slow request stays visible for a while but not for ever. */
export const QUANTILE_WINDOW_MS = 30_000;

/**
 * Responses by status class, disjoint: 429 apart from the other 4xx, the 503s the proxy shed itself
 * (--max-in-flight) apart from the other 5xx. No name is a bare number: as an object key that would be
 * an array index, and V8 would give every point an elements store that long (430 slots, 5 KiB, for '429').
 */
export const STATUS_CLASSES = ['4xx other', '429 rate limit', '5xx other', '503 shed'] as const;
type StatusClass = (typeof STATUS_CLASSES)[number];

/** Cumulative bucket counts as [upper bound, count]; the +Inf bound is null because JSON has no Infinity. */
type BucketList = ReadonlyArray<readonly [number | null, number]>;

/** What one backend's series need from one scrape: cumulative counts, current gauges, histogram buckets. */
export interface BackendReading {
  readonly inFlight: number;
  readonly requestsIn: number;
  readonly requestsOut: number;
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly statuses: Readonly<Record<StatusClass, number>>;
  /** Completion responses by outcome, every outcome but `completed`. */
  readonly outcomes: Readonly<Record<string, number>>;
  /** Requests sent again because this backend failed, by reason (upstream_retries_total): only reasons seen. */
  readonly retries: Readonly<Record<string, number>>;
  readonly ttft: BucketList;
  readonly throughput: BucketList;
  readonly overhead: BucketList;
  /** Its engine's own gauges as the proxy last read them; absent without a fresh reading. */
  readonly engine?: EngineGauges;
  /** The proxy's own row (url="none") only: requests waiting in its queue, by priority class. */
  readonly queue?: Readonly<Record<string, number>>;
}

/** A backend's engine: its queue, its running batch, its KV use (null when it does not tell), and whether the proxy holds requests back from it. */
export interface EngineGauges {
  readonly waiting: number;
  readonly running: number;
  readonly kvUsage: number | null;
  readonly saturated: boolean;
}

/** One scrape, reduced; `t` in ms since the epoch. Keyed by the backend's `url` label. */
export interface Reading {
  readonly t: number;
  readonly backends: Readonly<Record<string, BackendReading>>;
}

/**
 * One backend at one point. Counts are increases since the previous reading (null, or empty, at the
 * first): whole numbers, exact when summed, and a rate once divided by the point's `seconds`.
 */
export interface BackendPoint {
  readonly inFlight: number;
  readonly requestsIn: number | null;
  readonly requestsOut: number | null;
  readonly promptTokens: number | null;
  readonly completionTokens: number | null;
  /** Quantiles over the requests that ended within the window; null when none did. */
  readonly ttftP50S: number | null;
  readonly ttftP99S: number | null;
  readonly throughputP50: number | null;
  readonly throughputP99: number | null;
  /** The proxy's own time per request (proxy_overhead_seconds). */
  readonly overheadP50S: number | null;
  readonly overheadP99S: number | null;
  readonly statuses: Readonly<Record<string, number>>;
  readonly outcomes: Readonly<Record<string, number>>;
  readonly retries: Readonly<Record<string, number>>;
  /** As in its reading: present only with a fresh engine reading. */
  readonly engine?: EngineGauges;
  /** As in its reading: the proxy's own row only, once anything has queued. */
  readonly queue?: Readonly<Record<string, number>>;
}

/** `seconds` is the interval the counts cover (0 for a first reading). */
export interface DashboardPoint {
  readonly t: number;
  readonly seconds: number;
  readonly backends: Readonly<Record<string, BackendPoint>>;
}

/**
 * What GET /dashboard/history answers. `now` lets a reader correct for clock skew; `readings` are the
 * primary's cumulative readings of the quantile window, oldest first, the last one the newest sample: a
 * reader that resumes from them computes its next point (rates, and quantiles over a full window) from
 * its own scrape exactly as the primary would have.
 */
export interface DashboardHistory {
  readonly now: number;
  readonly points: readonly DashboardPoint[];
  readonly readings: readonly Reading[];
}

/**
 * Every metric family readDashboard() reads: the primary's history samples only these (and only when one
 * of them changed), not the whole exposition.
 */
export const DASHBOARD_FAMILIES = [
  'in_flight_requests',
  'input_requests_total',
  'output_requests_total',
  'prompt_tokens_total',
  'completion_tokens_total',
  'stream_outcomes_total',
  'upstream_retries_total',
  'overload_rejections_total',
  'time_to_first_token_seconds',
  'decoding_throughput_tokens_per_second',
  'proxy_overhead_seconds',
  'backend_engine_waiting',
  'backend_engine_running',
  'backend_engine_kv_usage',
  'backend_saturated',
  'queue_depth',
] as const;

/** The url label of the proxy's own row (UNROUTED_URL in backend-table.ts): the queue is drawn there. */
const PROXY_ROW = 'none';

/** Reduces a parsed /metrics to what the dashboard draws, per backend (it reads DASHBOARD_FAMILIES only). */
export function readDashboard(samples: PromSamples, t: number): Reading {
  const backends: Record<string, BackendReading> = {};
  const byUrl = samplesByUrl(samples);
  for (const url of [...byUrl.keys()].sort()) {
    // Only the backend's own samples: one pass over the exposition in all, not one per backend.
    const own = byUrl.get(url) as PromSamples;
    if (!own.has('in_flight_requests') && !own.has('input_requests_total')) continue;
    const where = { url };
    backends[url] = {
      inFlight: sumSamples(own, 'in_flight_requests', where),
      requestsIn: sumSamples(own, 'input_requests_total', where),
      requestsOut: sumSamples(own, 'output_requests_total', where),
      promptTokens: sumSamples(own, 'prompt_tokens_total', where),
      completionTokens: sumSamples(own, 'completion_tokens_total', where),
      statuses: statusClasses(own, url),
      // Every outcome but `completed`: the errors panel draws what did not complete.
      outcomes: totalsBy(own, 'stream_outcomes_total', url, 'outcome', 'completed'),
      retries: totalsBy(own, 'upstream_retries_total', url, 'reason'),
      ttft: toList(histogramBuckets(own, 'time_to_first_token_seconds', where)),
      throughput: toList(histogramBuckets(own, 'decoding_throughput_tokens_per_second', where)),
      overhead: toList(histogramBuckets(own, 'proxy_overhead_seconds', where)),
      ...engineOf(own),
      ...(url === PROXY_ROW ? queueOf(samples) : {}),
    };
  }
  return { t, backends };
}

/** A backend's engine gauges, when the proxy has a fresh reading of them. */
function engineOf(own: PromSamples): { engine?: EngineGauges } {
  const waiting = own.get('backend_engine_waiting')?.[0];
  const running = own.get('backend_engine_running')?.[0];
  if (waiting === undefined || running === undefined) return {};
  const kv = own.get('backend_engine_kv_usage')?.[0];
  const saturated = own.get('backend_saturated')?.[0];
  return { engine: { waiting: waiting.value, running: running.value, kvUsage: kv?.value ?? null, saturated: saturated?.value === 1 } };
}

/** Requests in the proxy's queue by class, once any class has a series. */
function queueOf(samples: PromSamples): { queue?: Record<string, number> } {
  const list = samples.get('queue_depth');
  if (list === undefined || list.length === 0) return {};
  const queue: Record<string, number> = {};
  for (const sample of list) if (sample.labels.priority !== undefined) queue[sample.labels.priority] = sample.value;
  return { queue };
}

/** One point from a reading, the one before it (for the counts) and the one at the start of the quantile window. */
export function pointBetween(now: Reading, previous: Reading | null, windowStart: Reading | null): DashboardPoint {
  const seconds = previous === null ? 0 : (now.t - previous.t) / 1000;
  const backends: Record<string, BackendPoint> = {};
  for (const [url, reading] of Object.entries(now.backends)) {
    const before = seconds > 0 ? (previous?.backends[url] ?? null) : null;
    const start = windowStart?.backends[url] ?? null;
    // The merged totals never drop while the proxy runs; were one to, a negative count is not drawn.
    const increase = (pick: (r: BackendReading) => number): number | null =>
      before === null ? null : Math.max(0, pick(reading) - pick(before));
    const ttft = start === null ? null : bucketDelta(fromList(reading.ttft), fromList(start.ttft));
    const throughput = start === null ? null : bucketDelta(fromList(reading.throughput), fromList(start.throughput));
    const overhead = start === null ? null : bucketDelta(fromList(reading.overhead ?? []), fromList(start.overhead ?? []));
    backends[url] = {
      inFlight: reading.inFlight,
      requestsIn: increase((r) => r.requestsIn),
      requestsOut: increase((r) => r.requestsOut),
      promptTokens: increase((r) => r.promptTokens),
      completionTokens: increase((r) => r.completionTokens),
      ttftP50S: ttft === null ? null : histogramQuantile(0.5, ttft),
      ttftP99S: ttft === null ? null : histogramQuantile(0.99, ttft),
      throughputP50: throughput === null ? null : histogramQuantile(0.5, throughput),
      throughputP99: throughput === null ? null : histogramQuantile(0.99, throughput),
      overheadP50S: overhead === null ? null : histogramQuantile(0.5, overhead),
      overheadP99S: overhead === null ? null : histogramQuantile(0.99, overhead),
      statuses: before === null ? {} : increases(reading.statuses, before.statuses),
      outcomes: before === null ? {} : increases(reading.outcomes, before.outcomes),
      retries: before === null ? {} : increases(reading.retries, before.retries),
      ...(reading.engine === undefined ? {} : { engine: reading.engine }),
      ...(reading.queue === undefined ? {} : { queue: reading.queue }),
    };
  }
  return { t: now.t, seconds, backends };
}

/**
 * Turns readings into points, keeping only the readings the quantile window needs (bounded by the window
 * over the reading interval, plus one).
 */
export class DashboardSeries {
  readonly #windowMs: number;
  readonly #readings: Reading[] = [];

  constructor(windowMs = QUANTILE_WINDOW_MS) {
    this.#windowMs = windowMs;
  }

  add(reading: Reading): DashboardPoint {
    const previous = this.last();
    this.#readings.push(reading);
    // The window starts at the newest reading at least windowMs old (or the oldest there is).
    while (this.#readings.length > 1 && (this.#readings[1] as Reading).t <= reading.t - this.#windowMs) this.#readings.shift();
    const start = this.#readings[0] === reading ? null : (this.#readings[0] as Reading);
    return pointBetween(reading, previous, start);
  }

  /** Continues from a reading whose point is already known (the primary's last, on the page). */
  resume(reading: Reading): void {
    this.#readings.push(reading);
  }

  last(): Reading | null {
    return this.#readings.at(-1) ?? null;
  }

  /** The readings kept for the quantile window, oldest first (what a reader resumes from). */
  readings(): readonly Reading[] {
    return [...this.#readings];
  }
}

/**
 * The samples of each `url` label value, by metric name. Every backend the proxy reports has its in-flight
 * gauge from startup (and its completion counters); readDashboard() keeps the urls that have one of them.
 */
function samplesByUrl(samples: PromSamples): Map<string, Map<string, PromSample[]>> {
  const out = new Map<string, Map<string, PromSample[]>>();
  for (const [name, list] of samples) {
    for (const sample of list) {
      const url = sample.labels.url;
      if (url === undefined) continue;
      let own = out.get(url);
      if (own === undefined) {
        own = new Map();
        out.set(url, own);
      }
      const named = own.get(name);
      if (named === undefined) own.set(name, [sample]);
      else named.push(sample);
    }
  }
  return out;
}

function statusClasses(samples: PromSamples, url: string): Record<StatusClass, number> {
  const out: Record<StatusClass, number> = { '4xx other': 0, '429 rate limit': 0, '5xx other': 0, '503 shed': 0 };
  for (const sample of samples.get('output_requests_total') ?? []) {
    if (sample.labels.url !== url) continue;
    const status = Number(sample.labels.status);
    if (status === 429) out['429 rate limit'] += sample.value;
    else if (status >= 400 && status < 500) out['4xx other'] += sample.value;
    else if (status >= 500 && status < 600) out['5xx other'] += sample.value;
  }
  // A shed request is also an output 503, counted in the same tick as its rejection (one snapshot has both).
  out['503 shed'] = sumSamples(samples, 'overload_rejections_total', { url });
  out['5xx other'] -= out['503 shed'];
  return out;
}

/** `name`'s samples of one backend summed by the value of `label` (all but `skip`): only the values that have a series. */
function totalsBy(samples: PromSamples, name: string, url: string, label: string, skip?: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const sample of samples.get(name) ?? []) {
    const value = sample.labels[label];
    if (sample.labels.url !== url || value === undefined || value === skip) continue;
    out[value] = (out[value] ?? 0) + sample.value;
  }
  return out;
}

function increases(now: Readonly<Record<string, number>>, then: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, count] of Object.entries(now)) out[key] = Math.max(0, count - (then[key] ?? 0));
  return out;
}

function toList(buckets: BucketCounts): BucketList {
  return [...buckets].map(([bound, count]) => [Number.isFinite(bound) ? bound : null, count] as const);
}

function fromList(list: BucketList): BucketCounts {
  return new Map(list.map(([bound, count]) => [bound ?? Number.POSITIVE_INFINITY, count]));
}
