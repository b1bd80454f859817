import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { isMonotonic, retainMonotonic } from '../../src/primary/snapshot-merge.js';
import type { MetricsSnapshot } from '../../src/shared/ipc.js';

interface WorkerCounts {
  requests: Array<[endpoint: string, count: number]>;
  durations: number[];
  inFlight: number;
}

/** One worker's metrics, as a real prom-client registry reports them. */
async function snapshotOf(counts: WorkerCounts): Promise<MetricsSnapshot> {
  const registry = new Registry();
  const registers = [registry];
  const requests = new Counter({ name: 'requests_total', help: 'Requests.', labelNames: ['endpoint'], registers });
  const duration = new Histogram({ name: 'duration_seconds', help: 'Duration.', labelNames: ['url'], buckets: [0.1, 1], registers });
  const inFlight = new Gauge({ name: 'in_flight', help: 'In flight.', registers });
  for (const [endpoint, count] of counts.requests) requests.inc({ endpoint }, count);
  for (const seconds of counts.durations) duration.observe({ url: 'http://b' }, seconds);
  inFlight.set(counts.inFlight);
  return (await registry.getMetricsAsJSON()) as MetricsSnapshot;
}

function valuesOf(snapshot: MetricsSnapshot, name: string): Array<[string, Record<string, unknown>, number]> {
  const metric = snapshot.find((m) => m.name === name);
  assert.ok(metric, `${name} present`);
  return metric.values.map((v) => [(v as { metricName?: string }).metricName ?? name, { ...v.labels }, v.value]);
}

const A: WorkerCounts = {
  requests: [
    ['/v1/models', 2],
    ['/v1/chat/completions', 5],
  ],
  durations: [0.05, 0.5, 3],
  inFlight: 4,
};
const B: WorkerCounts = {
  requests: [
    ['/v1/chat/completions', 10],
    ['other', 1],
  ],
  durations: [0.01, 0.02],
  inFlight: 9,
};

test('isMonotonic: counters and summed histograms yes, gauges no', async () => {
  const snapshot = await snapshotOf(A);
  const byName = new Map(snapshot.map((m) => [m.name, m]));
  assert.equal(isMonotonic(byName.get('requests_total')!), true);
  assert.equal(isMonotonic(byName.get('duration_seconds')!), true);
  assert.equal(isMonotonic(byName.get('in_flight')!), false);
  assert.equal(isMonotonic({ ...byName.get('requests_total')!, aggregator: 'max' }), false);
  assert.equal(isMonotonic({ ...byName.get('in_flight')!, aggregator: 'sum' }), false);
});

test('retaining into an empty snapshot keeps counters and histograms and drops gauges', async () => {
  const a = await snapshotOf(A);
  const retained = retainMonotonic([], a);
  assert.deepEqual(
    retained.map((m) => m.name),
    ['requests_total', 'duration_seconds'],
  );
  assert.deepEqual(valuesOf(retained, 'requests_total'), valuesOf(a, 'requests_total'));
  assert.deepEqual(valuesOf(retained, 'duration_seconds'), valuesOf(a, 'duration_seconds'));
});

test('two snapshots: counters summed per label set, new label sets appended', async () => {
  const merged = retainMonotonic(retainMonotonic([], await snapshotOf(A)), await snapshotOf(B));
  assert.deepEqual(valuesOf(merged, 'requests_total'), [
    ['requests_total', { endpoint: '/v1/models' }, 2],
    ['requests_total', { endpoint: '/v1/chat/completions' }, 15],
    ['requests_total', { endpoint: 'other' }, 1],
  ]);
  assert.equal(
    merged.find((m) => m.name === 'in_flight'),
    undefined,
  );
});

test('two snapshots: histogram buckets, sum and count added element-wise', async () => {
  const merged = retainMonotonic(retainMonotonic([], await snapshotOf(A)), await snapshotOf(B));
  const values = valuesOf(merged, 'duration_seconds');
  const url = 'http://b';
  assert.deepEqual(
    values.filter(([name]) => name === 'duration_seconds_bucket'),
    [
      ['duration_seconds_bucket', { le: 0.1, url }, 3],
      ['duration_seconds_bucket', { le: 1, url }, 4],
      ['duration_seconds_bucket', { le: '+Inf', url }, 5],
    ],
  );
  const [sum] = values.filter(([name]) => name === 'duration_seconds_sum');
  assert.ok(sum);
  assert.ok(Math.abs(sum[2] - 3.58) < 1e-9, `sum ${sum[2]}`);
  assert.deepEqual(
    values.filter(([name]) => name === 'duration_seconds_count'),
    [['duration_seconds_count', { url }, 5]],
  );
});

test('merging is associative across three retirements', async () => {
  let retired: MetricsSnapshot = [];
  for (const counts of [A, B, A]) retired = retainMonotonic(retired, await snapshotOf(counts));
  assert.deepEqual(valuesOf(retired, 'requests_total'), [
    ['requests_total', { endpoint: '/v1/models' }, 4],
    ['requests_total', { endpoint: '/v1/chat/completions' }, 20],
    ['requests_total', { endpoint: 'other' }, 1],
  ]);
  const count = valuesOf(retired, 'duration_seconds').find(([name]) => name === 'duration_seconds_count');
  assert.deepEqual(count, ['duration_seconds_count', { url: 'http://b' }, 8]);
});

test('a metric only in the second snapshot is added whole', async () => {
  const registry = new Registry();
  new Counter({ name: 'late_total', help: 'Late.', registers: [registry] }).inc(3);
  const late = (await registry.getMetricsAsJSON()) as MetricsSnapshot;
  const merged = retainMonotonic(retainMonotonic([], await snapshotOf(A)), late);
  assert.deepEqual(
    merged.map((m) => m.name),
    ['requests_total', 'duration_seconds', 'late_total'],
  );
  assert.deepEqual(valuesOf(merged, 'late_total'), [['late_total', {}, 3]]);
});

test('the inputs are not mutated', async () => {
  const a = retainMonotonic([], await snapshotOf(A));
  const b = await snapshotOf(B);
  const aBefore = structuredClone(a);
  const bBefore = structuredClone(b);
  const merged = retainMonotonic(a, b);
  assert.deepEqual(a, aBefore);
  assert.deepEqual(b, bBefore);
  // Adding into the result again leaves the first result alone too.
  const mergedBefore = structuredClone(merged);
  retainMonotonic(merged, b);
  assert.deepEqual(merged, mergedBefore);
});

test('the merged snapshot aggregates into Prometheus text showing the sums', async () => {
  const merged = retainMonotonic(retainMonotonic([], await snapshotOf(A)), await snapshotOf(B));
  const text = await AggregatorRegistry.aggregate([merged]).metrics();
  const lines = text.split('\n');
  for (const line of [
    'requests_total{endpoint="/v1/models"} 2',
    'requests_total{endpoint="/v1/chat/completions"} 15',
    'requests_total{endpoint="other"} 1',
    'duration_seconds_bucket{le="0.1",url="http://b"} 3',
    'duration_seconds_bucket{le="1",url="http://b"} 4',
    'duration_seconds_bucket{le="+Inf",url="http://b"} 5',
    'duration_seconds_count{url="http://b"} 5',
  ]) {
    assert.ok(lines.includes(line), `missing ${line} in\n${text}`);
  }
  assert.equal(
    lines.some((line) => line.startsWith('in_flight')),
    false,
  );
});

test('retired totals plus a live snapshot aggregate to the overall counts', async () => {
  const retired = retainMonotonic([], await snapshotOf(A));
  const live = await snapshotOf(B);
  const lines = (await AggregatorRegistry.aggregate([retired, live]).metrics()).split('\n');
  assert.ok(lines.includes('requests_total{endpoint="/v1/chat/completions"} 15'));
  assert.ok(lines.includes('duration_seconds_count{url="http://b"} 5'));
  // Only the live worker's gauge remains.
  assert.ok(lines.includes('in_flight 9'));
});
