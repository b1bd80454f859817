import type { MetricsSnapshot } from '../shared/ipc.js';

type Metric = MetricsSnapshot[number];

/** Counters and histograms only ever grow; a departed worker's share of them must stay in the sum. */
export function isMonotonic(metric: Metric): boolean {
  const type = String(metric.type);
  return (type === 'counter' || type === 'histogram') && (metric.aggregator ?? 'sum') === 'sum';
}

function seriesKey(metricName: string | undefined, labels: Record<string, unknown>): string {
  const names = Object.keys(labels).sort();
  let key = metricName ?? '';
  for (const name of names) key += `\u0000${name}=${String(labels[name])}`;
  return key;
}

/**
 * Adds the monotonic series of `snapshot` into `into` (a snapshot of retired counts) and returns the result.
 * Gauges are dropped: a departed worker has no in-flight requests and no current memory.
 */
export function retainMonotonic(into: MetricsSnapshot, snapshot: MetricsSnapshot): MetricsSnapshot {
  const byName = new Map<string, Metric>();
  for (const metric of into) byName.set(metric.name, { ...metric, values: metric.values.map((v) => ({ ...v })) });
  for (const metric of snapshot) {
    if (!isMonotonic(metric)) continue;
    const target = byName.get(metric.name);
    if (target === undefined) {
      byName.set(metric.name, { ...metric, values: metric.values.map((v) => ({ ...v })) });
      continue;
    }
    const index = new Map<string, (typeof target.values)[number]>();
    for (const value of target.values) index.set(seriesKey((value as { metricName?: string }).metricName, value.labels), value);
    for (const value of metric.values) {
      const existing = index.get(seriesKey((value as { metricName?: string }).metricName, value.labels));
      if (existing) existing.value += value.value;
      else target.values.push({ ...value });
    }
  }
  return [...byName.values()];
}
