import type { MetricValue, MetricValueWithName, Registry } from 'prom-client';
import { FastHistogram } from './fast-histogram.js';

/** A series' labels (for a histogram: without `le`). */
export type SeriesLabels = Readonly<Record<string, string | number>>;

/**
 * One metric family's changes since the last delta, compact: each series once with its labels and its
 * numbers, instead of one labelled object per bucket (what prom-client's getMetricsAsJSON() gives).
 */
export interface FamilyDelta {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly aggregator: string;
  /**
   * Histograms: the `le` of every bucket, '+Inf' last. A series' numbers are then its cumulative bucket
   * counts in that order, its _sum and its _count. Counters and gauges: absent, one number per series.
   */
  readonly le?: ReadonlyArray<number | string>;
  /** Series that are new or whose numbers changed. */
  readonly set: ReadonlyArray<readonly [SeriesLabels, readonly number[]]>;
  /** Series that no longer exist. */
  readonly drop: readonly SeriesLabels[];
  /** A family of another type, sent whole every time in prom-client's own shape. */
  readonly raw?: readonly MetricValue<string>[];
}

/** What a worker sends for one metrics request: what changed in its registry since the delta before. */
export interface MetricsDelta {
  /** 1, 2, 3 … per worker: a receiver that missed one asks for a full delta. */
  readonly seq: number;
  /** Every series, not only the changes: the receiver replaces what it holds. */
  readonly full: boolean;
  readonly families: readonly FamilyDelta[];
  /** Families no longer registered. */
  readonly gone: readonly string[];
}

/** One key per label set; the key order of a series' labels object is fixed by whoever made the series. */
export function seriesKey(labels: SeriesLabels): string {
  let key = '';
  for (const name in labels) key += `${name}\u0001${labels[name]}\u0000`;
  return key;
}

/**
 * The key of a labels object, computed once per object: prom-client and FastHistogram keep one labels
 * object per series for its life and never change it, so an idle delta builds no strings.
 */
const keys = new WeakMap<SeriesLabels, string>();
function keyOf(labels: SeriesLabels): string {
  let key = keys.get(labels);
  if (key === undefined) {
    key = seriesKey(labels);
    keys.set(labels, key);
  }
  return key;
}

interface Sent {
  /** A FastHistogram series: its count (it changes with every observation); a counter or gauge: its value; a histogram: its numbers. */
  mark: number | readonly number[];
  readonly labels: SeriesLabels;
  /** The last delta that saw the series in the registry. */
  generation: number;
}

/**
 * A worker's side of the metrics merge (issue 18): each request gets only the series that changed since
 * the previous one, so an idle worker answers with a few process gauges and a busy one with what its
 * traffic touched, not with every series of every backend. The primary keeps the rest (WorkerSnapshot).
 */
export class SnapshotDiffer {
  readonly #registry: Registry;
  /** What the receiver holds: per family, per series key. */
  readonly #sent = new Map<string, Map<string, Sent>>();
  #seq = 0;
  #generation = 0;

  constructor(registry: Registry) {
    this.#registry = registry;
  }

  /** The delta since the previous call (everything when `full`). Calls must not overlap: await each one. */
  async next(full: boolean): Promise<MetricsDelta> {
    if (full) this.#sent.clear();
    const generation = ++this.#generation;
    const families: FamilyDelta[] = [];
    const present = new Set<string>();
    for (const metric of this.#registry.getMetricsAsArray() as unknown[]) {
      const name = (metric as { name: string }).name;
      const known = this.#sent.has(name);
      const family =
        metric instanceof FastHistogram
          ? this.#fastHistogram(metric, generation)
          : this.#generic(await (metric as { get(): Promise<MetricData> }).get(), generation);
      present.add(name);
      // A family is announced once even without series, so that its HELP and TYPE are in the exposition.
      if (!known || family.set.length > 0 || family.drop.length > 0 || family.raw !== undefined) families.push(family);
    }
    const gone = [...this.#sent.keys()].filter((name) => !present.has(name));
    for (const name of gone) this.#sent.delete(name);
    return { seq: ++this.#seq, full, families, gone };
  }

  #fastHistogram(metric: FastHistogram<string>, generation: number): FamilyDelta {
    const sent = this.#family(metric.name);
    const set: Array<[SeriesLabels, number[]]> = [];
    for (const series of metric.series()) {
      if (!series.exported) continue;
      if (this.#changed(sent, series.key, series.labels, series.count, generation)) set.push([series.labels, series.values()]);
    }
    return { ...familyOf(metric), le: metric.le, set, drop: sweep(sent, generation) };
  }

  #generic(data: MetricData, generation: number): FamilyDelta {
    const family = familyOf(data);
    if (data.type !== 'counter' && data.type !== 'gauge' && data.type !== 'histogram') {
      this.#family(data.name);
      return { ...family, set: [], drop: [], raw: data.values };
    }
    const sent = this.#family(data.name);
    const set: Array<[SeriesLabels, number[]]> = [];
    if (data.type !== 'histogram') {
      for (const { labels, value } of data.values) {
        if (this.#changed(sent, keyOf(labels as SeriesLabels), labels as SeriesLabels, value, generation))
          set.push([labels as SeriesLabels, [value]]);
      }
      return { ...family, set, drop: sweep(sent, generation) };
    }
    const grouped = groupHistogram(data);
    for (const { labels, numbers } of grouped.series)
      if (this.#changed(sent, seriesKey(labels), labels, numbers, generation)) set.push([labels, numbers]);
    return { ...family, le: grouped.le, set, drop: sweep(sent, generation) };
  }

  #family(name: string): Map<string, Sent> {
    let sent = this.#sent.get(name);
    if (sent === undefined) {
      sent = new Map();
      this.#sent.set(name, sent);
    }
    return sent;
  }

  /** Records the series as seen now; true when it is new or its numbers moved since they were sent. */
  #changed(sent: Map<string, Sent>, key: string, labels: SeriesLabels, mark: number | readonly number[], generation: number): boolean {
    const before = sent.get(key);
    if (before === undefined) {
      sent.set(key, { mark, labels, generation });
      return true;
    }
    before.generation = generation;
    if (typeof mark === 'number' ? before.mark === mark : sameNumbers(before.mark, mark)) return false;
    before.mark = mark;
    return true;
  }
}

/** Forgets the series not seen in this generation and returns their labels. */
function sweep(sent: Map<string, Sent>, generation: number): SeriesLabels[] {
  const drop: SeriesLabels[] = [];
  for (const [key, entry] of sent) {
    if (entry.generation === generation) continue;
    drop.push(entry.labels);
    sent.delete(key);
  }
  return drop;
}

/** What prom-client's metric.get() resolves to. */
interface MetricData {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly aggregator?: string;
  readonly values: MetricValue<string>[];
}

type Family = Pick<FamilyDelta, 'name' | 'help' | 'type' | 'aggregator'>;

function familyOf(data: { name: string; help: string; type: string; aggregator?: string }): Family {
  return { name: data.name, help: data.help, type: String(data.type), aggregator: data.aggregator ?? 'sum' };
}

function sameNumbers(a: number | readonly number[] | undefined, b: readonly number[]): boolean {
  if (!Array.isArray(a) || a.length !== b.length) return false;
  for (let i = 0; i < b.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

interface Grouped {
  readonly le: Array<number | string>;
  readonly series: Iterable<{ labels: SeriesLabels; numbers: number[] }>;
}

/**
 * prom-client's histogram values (per series: each bucket with its `le`, then _sum, then _count) as one
 * row per series; every series of a histogram has the same buckets, so the first one's `le` serve all.
 */
function groupHistogram(data: MetricData): Grouped {
  const rows = new Map<string, { labels: SeriesLabels; buckets: number[]; sum: number; count: number }>();
  const le: Array<number | string> = [];
  for (const value of data.values as MetricValueWithName<string>[]) {
    const { le: bound, ...labels } = value.labels as Record<string, string | number>;
    const key = seriesKey(labels);
    let row = rows.get(key);
    if (row === undefined) {
      row = { labels, buckets: [], sum: 0, count: 0 };
      rows.set(key, row);
    }
    if (value.metricName === `${data.name}_sum`) row.sum = value.value;
    else if (value.metricName === `${data.name}_count`) row.count = value.value;
    else {
      row.buckets.push(value.value);
      if (rows.size === 1 && bound !== undefined) le.push(bound);
    }
  }
  const series = [...rows.values()].map((row) => ({ labels: row.labels, numbers: [...row.buckets, row.sum, row.count] }));
  return { le, series };
}
