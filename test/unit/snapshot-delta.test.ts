import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { registerDefaultMetrics } from '../../src/metrics/default-metrics.js';
import { FastHistogram } from '../../src/metrics/fast-histogram.js';
import { type MetricsDelta, SnapshotDiffer } from '../../src/metrics/snapshot-delta.js';
import { WorkerSnapshot } from '../../src/primary/worker-snapshot.js';

/** A worker-like registry: our histogram, prom-client's counter, gauge and histogram, two of them labelled by url. */
function workerRegistry() {
  const registry = new Registry();
  const registers = [registry];
  const fast = new FastHistogram({ name: 'ttfb_seconds', help: 'TTFB.', labelNames: ['url', 'endpoint'], buckets: [0.1, 1], registers });
  const requests = new Counter({ name: 'requests_total', help: 'Requests.', labelNames: ['url', 'status'], registers });
  const inFlight = new Gauge({ name: 'in_flight', help: 'In flight.', labelNames: ['url'], registers });
  const sizes = new Histogram({ name: 'sizes', help: 'Sizes "quoted"\nand two lines.', labelNames: ['kind'], buckets: [1, 10], registers });
  const unlabelled = new Counter({ name: 'panics_total', help: 'Panics.', registers });
  return { registry, fast, requests, inFlight, sizes, unlabelled };
}

/** The text AggregatorRegistry makes of these families: the same for the registry itself and for what the primary holds. */
function merged(families: Parameters<typeof AggregatorRegistry.aggregate>[0][number]): Promise<string> {
  return AggregatorRegistry.aggregate([families]).metrics();
}

/** The same lines: a series bound early and observed late comes later within its family, which the format allows. */
async function expectSame(registry: Registry, held: WorkerSnapshot): Promise<void> {
  const lines = (text: string) => text.split('\n').sort();
  assert.deepEqual(lines(await merged(held.toSnapshot())), lines(await merged(await registry.getMetricsAsJSON())));
}

function changedSeries(delta: MetricsDelta): Record<string, number> {
  return Object.fromEntries(delta.families.map((family) => [family.name, family.set.length + family.drop.length]));
}

test('deltas applied in order rebuild the registry exactly, and carry only what changed', async () => {
  const w = workerRegistry();
  const differ = new SnapshotDiffer(w.registry);
  const held = new WorkerSnapshot();
  w.fast.labels('http://a', '/v1/chat/completions').observe(0.05);
  w.fast.labels('http://b', '/v1/chat/completions'); // bound, never observed: not exported
  w.fast.zero({ url: 'http://c', endpoint: '/v1/completions' });
  w.requests.inc({ url: 'http://a', status: '200' }, 3);
  w.inFlight.set({ url: 'http://a' }, 2);
  w.sizes.observe({ kind: 'x' }, 5);

  const first = await differ.next(false);
  assert.equal(first.seq, 1);
  assert.deepEqual(held.apply(first), ['ttfb_seconds', 'requests_total', 'in_flight', 'sizes', 'panics_total']);
  assert.deepEqual(changedSeries(first), { ttfb_seconds: 2, requests_total: 1, in_flight: 1, sizes: 1, panics_total: 1 });
  await expectSame(w.registry, held);

  // Nothing happened: nothing is sent.
  const idle = await differ.next(false);
  assert.deepEqual(idle.families, []);
  assert.deepEqual(held.apply(idle), []);

  w.fast.labels('http://a', '/v1/chat/completions').observe(3);
  w.fast.labels('http://b', '/v1/chat/completions').observe(0.5);
  w.requests.inc({ url: 'http://a', status: '502' });
  w.inFlight.set({ url: 'http://a' }, 2); // same value: not a change
  const busy = await differ.next(false);
  assert.deepEqual(changedSeries(busy), { ttfb_seconds: 2, requests_total: 1 });
  assert.deepEqual(busy.families[0]?.set, [
    [{ url: 'http://a', endpoint: '/v1/chat/completions' }, [1, 1, 2, 3.05, 2]],
    [{ url: 'http://b', endpoint: '/v1/chat/completions' }, [0, 1, 1, 0.5, 1]],
  ]);
  held.apply(busy);
  await expectSame(w.registry, held);

  // A backend forgotten: its series are dropped, by labels.
  w.fast.removeWhere((labels) => labels.url === 'http://a');
  w.requests.remove({ url: 'http://a', status: '200' });
  w.inFlight.remove({ url: 'http://a' });
  const forgot = await differ.next(false);
  assert.deepEqual(
    forgot.families.map((f) => [f.name, f.set.length, f.drop]),
    [
      ['ttfb_seconds', 0, [{ url: 'http://a', endpoint: '/v1/chat/completions' }]],
      ['requests_total', 0, [{ url: 'http://a', status: '200' }]],
      ['in_flight', 0, [{ url: 'http://a' }]],
    ],
  );
  held.apply(forgot);
  await expectSame(w.registry, held);
});

test('a delta that does not follow the last one is refused, and a full one starts over', async () => {
  const w = workerRegistry();
  const differ = new SnapshotDiffer(w.registry);
  const held = new WorkerSnapshot();
  w.requests.inc({ url: 'http://a', status: '200' });
  held.apply(await differ.next(false));
  w.requests.inc({ url: 'http://a', status: '200' });
  await differ.next(false); // lost on the way
  w.requests.inc({ url: 'http://a', status: '404' });
  assert.equal(held.apply(await differ.next(false)), null);
  const full = await differ.next(true);
  assert.equal(full.full, true);
  assert.deepEqual(held.apply(full), ['ttfb_seconds', 'requests_total', 'in_flight', 'sizes', 'panics_total']);
  await expectSame(w.registry, held);
  assert.match(await merged(held.toSnapshot()), /requests_total\{url="http:\/\/a",status="200"\} 2\n/);
});

test("the default process metrics go through as well, summaries of other types whole ('raw')", async () => {
  const registry = new Registry();
  registerDefaultMetrics(registry);
  const differ = new SnapshotDiffer(registry);
  const held = new WorkerSnapshot();
  held.apply(await differ.next(false));
  held.apply(await differ.next(false));
  const ours = held.toSnapshot();
  const theirs = await registry.getMetricsAsJSON();
  assert.deepEqual(
    ours.map((family) => family.name),
    theirs.map((family) => family.name),
  );
  for (const family of ours) {
    const reference = theirs.find((f) => f.name === family.name);
    assert.equal(family.type, reference?.type, family.name);
    assert.equal(family.aggregator, reference?.aggregator, family.name);
    assert.equal(family.values.length, reference?.values.length, family.name);
  }
});

test('a registered family without a series is announced once, so its HELP and TYPE are exported', async () => {
  const w = workerRegistry();
  const differ = new SnapshotDiffer(w.registry);
  const first = await differ.next(false);
  assert.deepEqual(
    first.families.map((f) => f.name),
    ['ttfb_seconds', 'requests_total', 'in_flight', 'sizes', 'panics_total'],
  );
  const held = new WorkerSnapshot();
  held.apply(first);
  assert.match(await merged(held.toSnapshot()), /# TYPE ttfb_seconds histogram\n/);
  assert.deepEqual((await differ.next(false)).families, []);
});
