import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { Registry } from 'prom-client';
import { createAdmissionMetrics } from '../../src/metrics/admission-metrics.js';
import { parsePromText, sampleValue } from '../../src/metrics/prom-text.js';
import { type EngineEntry, EngineTable } from '../../src/primary/engine-table.js';
import { eventually } from '../../support/wait.js';

const URL_A = 'http://a:8000';

function table(t: TestContext) {
  const registry = new Registry();
  const metrics = createAdmissionMetrics(registry, { depth: () => 0, saturation: () => [] });
  const sent: EngineEntry[][] = [];
  const engines = new EngineTable((entries) => sent.push(entries), metrics);
  t.after(() => engines.close());
  const gauges = async () => {
    const samples = parsePromText(await registry.metrics());
    return ['backend_engine_waiting', 'backend_engine_running', 'backend_engine_kv_usage'].map((name) =>
      sampleValue(samples, name, { url: URL_A }),
    );
  };
  return { engines, sent, gauges };
}

test('a reading is stamped with the proxy own count, teaches the capacity, and goes out once, with what changed', async (t) => {
  const { engines, sent, gauges } = table(t);
  engines.reading(URL_A, { engine: 'vllm', waiting: 2, running: 8, kvUsage: 0.5 }, 6);
  engines.reading(URL_A, { engine: 'vllm', waiting: 0, running: 7, kvUsage: 0.4 }, 7);
  assert.deepEqual(engines.view(URL_A), { waiting: 0, running: 7, kvUsage: 0.4, ownAtReading: 7, capacity: 8, fresh: true });
  assert.deepEqual(await gauges(), [0, 7, 0.4]);
  await eventually(
    'broadcast',
    () => sent.length,
    (n) => n === 1,
  );
  assert.deepEqual(sent[0], [[URL_A, engines.view(URL_A)]], 'the two readings of one turn go out as one entry, the last');
});

test('stale: its counts and gauges go, its learned capacity stays; without one the view goes too', async (t) => {
  const { engines, sent, gauges } = table(t);
  engines.reading(URL_A, { engine: 'vllm', waiting: 1, running: 4, kvUsage: null }, 5);
  engines.reading(URL_A, null, 0);
  assert.deepEqual(engines.view(URL_A), { waiting: 0, running: 0, kvUsage: null, ownAtReading: 0, capacity: 4, fresh: false });
  assert.deepEqual(await gauges(), [undefined, undefined, undefined]);
  engines.forget(URL_A);
  assert.equal(engines.view(URL_A), null);
  engines.reading('http://b:1', { engine: 'tgi', waiting: 0, running: 2, kvUsage: null }, 2);
  engines.reading('http://b:1', null, 0);
  assert.equal(engines.view('http://b:1'), null, 'never seen with a queue: nothing to keep');
  await eventually(
    'broadcast',
    () => sent.flat().length,
    (n) => n >= 2,
  );
  assert.deepEqual(
    sent.flat().map(([url, view]) => [url, view === null ? null : view.fresh]),
    [
      [URL_A, null],
      ['http://b:1', null],
    ],
  );
});
