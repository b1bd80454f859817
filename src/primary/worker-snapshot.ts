import type { MetricValue, MetricValueWithName } from 'prom-client';
import { type FamilyDelta, type MetricsDelta, type SeriesLabels, seriesKey } from '../metrics/snapshot-delta.js';
import type { MetricsSnapshot } from '../shared/ipc.js';

type MetricFamily = MetricsSnapshot[number];

interface CachedFamily {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly aggregator: string;
  readonly le: ReadonlyArray<number | string> | null;
  readonly series: Map<string, { readonly labels: SeriesLabels; readonly numbers: readonly number[] }>;
  readonly raw: readonly MetricValue<string>[] | null;
}

/**
 * One worker's registry as the primary last heard it, kept up to date from the worker's deltas (issue 18):
 * a worker that is slow to answer is represented by it, and only the families a delta touched need to be
 * merged again. Families come out in prom-client's getMetricsAsJSON() shape, which AggregatorRegistry takes.
 */
export class WorkerSnapshot {
  readonly #families = new Map<string, CachedFamily>();
  #seq = 0;

  /**
   * Applies a delta and returns the names of the families it touched; null when it does not follow the
   * delta applied before (one went missing): nothing is applied, and the worker must be asked for a full one.
   */
  apply(delta: MetricsDelta): string[] | null {
    if (!delta.full && delta.seq !== this.#seq + 1) return null;
    this.#seq = delta.seq;
    const touched: string[] = [];
    if (delta.full) {
      touched.push(...this.#families.keys());
      this.#families.clear();
    }
    for (const name of delta.gone) if (this.#families.delete(name)) touched.push(name);
    for (const family of delta.families) {
      this.#applyFamily(family);
      touched.push(family.name);
    }
    return [...new Set(touched)];
  }

  names(): IterableIterator<string> {
    return this.#families.keys();
  }

  /** One family as prom-client's getMetricsAsJSON() gives it, or undefined when the worker has none. */
  family(name: string): MetricFamily | undefined {
    const cached = this.#families.get(name);
    if (cached === undefined) return undefined;
    const values: MetricValue<string>[] = cached.raw === null ? [] : [...cached.raw];
    for (const { labels, numbers } of cached.series.values()) {
      if (cached.le === null) values.push({ value: numbers[0] as number, labels: labels as MetricValue<string>['labels'] });
      else pushHistogram(values as MetricValueWithName<string>[], cached.name, cached.le, labels, numbers);
    }
    return { name: cached.name, help: cached.help, type: cached.type, aggregator: cached.aggregator, values } as unknown as MetricFamily;
  }

  /** Every family, for the retired totals when the worker exits. */
  toSnapshot(): MetricsSnapshot {
    return [...this.#families.keys()].map((name) => this.family(name) as MetricFamily);
  }

  #applyFamily(delta: FamilyDelta): void {
    const before = this.#families.get(delta.name);
    const family: CachedFamily = {
      name: delta.name,
      help: delta.help,
      type: delta.type,
      aggregator: delta.aggregator,
      le: delta.le ?? null,
      series: before?.series ?? new Map(),
      raw: delta.raw ?? null,
    };
    for (const labels of delta.drop) family.series.delete(seriesKey(labels));
    for (const [labels, numbers] of delta.set) family.series.set(seriesKey(labels), { labels, numbers });
    this.#families.set(delta.name, family);
  }
}

/** A histogram series the way prom-client exports one: each bucket with its `le` first, then _sum and _count. */
function pushHistogram(
  out: MetricValueWithName<string>[],
  name: string,
  le: ReadonlyArray<number | string>,
  labels: SeriesLabels,
  numbers: readonly number[],
): void {
  const bucket = `${name}_bucket`;
  for (let i = 0; i < le.length; i++) {
    out.push({
      value: numbers[i] as number,
      metricName: bucket,
      labels: { le: le[i], ...labels } as MetricValueWithName<string>['labels'],
    });
  }
  const own = labels as MetricValueWithName<string>['labels'];
  out.push({ value: numbers[le.length] as number, metricName: `${name}_sum`, labels: own });
  out.push({ value: numbers[le.length + 1] as number, metricName: `${name}_count`, labels: own });
}
