import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AggregatorRegistry, Histogram, Registry } from 'prom-client';
import { FastHistogram } from '../../src/metrics/fast-histogram.js';

const BUCKETS = [0.001, 0.005, 0.1, 1, 2.5];
// On a bound, between bounds, below the first, above the last, zero, negative.
const VALUES: Array<[string, string, number]> = [
  ['a', '/x', 0.001],
  ['a', '/x', 0.0011],
  ['a', '/x', 0],
  ['a', '/x', 2.5],
  ['a', '/x', 7],
  ['b', '/y', -1],
  ['b', '/y', 0.1],
];

function both() {
  const ours = new Registry();
  const theirs = new Registry();
  const config = { name: 'x_seconds', help: 'help text', labelNames: ['url', 'endpoint'] as const, buckets: BUCKETS };
  const fast = new FastHistogram({ ...config, registers: [ours] });
  const reference = new Histogram({ ...config, labelNames: [...config.labelNames], registers: [theirs] });
  fast.zero({ url: 'z', endpoint: '/zero' });
  reference.zero({ url: 'z', endpoint: '/zero' });
  for (const [url, endpoint, value] of VALUES) {
    fast.labels(url, endpoint).observe(value);
    reference.labels(url, endpoint).observe(value);
  }
  return { ours, theirs };
}

/** prom-client's JSON with its extra `exemplar: null` on buckets removed: the only difference allowed. */
function comparable(json: unknown): unknown {
  return JSON.parse(JSON.stringify(json, (key, value) => (key === 'exemplar' ? undefined : value)));
}

test('FastHistogram exports exactly what prom-client’s Histogram exports for the same observations', async () => {
  const { ours, theirs } = both();
  assert.deepEqual(comparable(await ours.getMetricsAsJSON()), comparable(await theirs.getMetricsAsJSON()));
  assert.equal(await ours.metrics(), await theirs.metrics());
});

test('AggregatorRegistry sums FastHistogram snapshots from several workers like prom-client’s own', async () => {
  const a = both();
  const b = both();
  const merged = AggregatorRegistry.aggregate([await a.ours.getMetricsAsJSON(), await b.ours.getMetricsAsJSON()]);
  const reference = AggregatorRegistry.aggregate([await a.theirs.getMetricsAsJSON(), await b.theirs.getMetricsAsJSON()]);
  assert.equal(await merged.metrics(), await reference.metrics());
  assert.match(await merged.metrics(), /x_seconds_bucket\{le="0.001",url="a",endpoint="\/x"\} 4/);
});

test('FastHistogram refuses what prom-client refuses: non-finite values, a wrong label count, unsorted buckets', () => {
  const registry = new Registry();
  const histogram = new FastHistogram({ name: 'y', help: 'h', labelNames: ['url'], buckets: [1, 2], registers: [registry] });
  assert.throws(() => histogram.labels('u').observe(Number.NaN), TypeError);
  assert.throws(() => histogram.labels('u').observe(Number.POSITIVE_INFINITY), TypeError);
  assert.throws(() => histogram.labels('u', 'extra'), /expected 1 label values/);
  assert.throws(() => new FastHistogram({ name: 'z', help: 'h', labelNames: [], buckets: [2, 1], registers: [] }), /buckets must increase/);
  assert.throws(
    () => new FastHistogram({ name: 'y', help: 'h', labelNames: [], buckets: [1], registers: [registry] }),
    /already been registered/,
  );
});
