import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { type EngineLoad, loadEngineParsers } from '../../src/engines/engine-registry.js';
import { EngineProber, type ProbeTarget } from '../../src/primary/engine-prober.js';
import { eventually } from '../../support/wait.js';
import { startMock } from '../helpers/mock-harness.js';

await loadEngineParsers();
const TEST = { timeout: 20_000 };

function targetOf(url: string): ProbeTarget {
  return { url, origin: url, basePath: '', host: new URL(url).host };
}

/** A prober whose every reading is kept, in order, per URL. */
function prober(t: TestContext, options: { intervalMs: number; idleIntervalMs?: number }, busy: () => boolean = () => true) {
  const readings = new Map<string, Array<EngineLoad | null>>();
  const probe = new EngineProber(
    () => ({ intervalMs: options.intervalMs, idleIntervalMs: options.idleIntervalMs ?? options.intervalMs, timeoutMs: 1_000 }),
    {
      reading: (url, load) => readings.set(url, [...(readings.get(url) ?? []), load]),
      busy,
    },
  );
  t.after(() => probe.close());
  const last = (url: string) => readings.get(url)?.at(-1);
  return { probe, readings, last };
}

test('the engine gauges of each backend, read every interval, as they change', TEST, async (t) => {
  const a = await startMock(t, { maxNumSeqs: 2, tokenDelayMs: 1_000 });
  const b = await startMock(t);
  const { probe, last } = prober(t, { intervalMs: 30 });
  probe.watch(targetOf(a.backend.url));
  probe.watch(targetOf(b.backend.url));
  await eventually(
    'both read',
    () => [last(a.backend.url), last(b.backend.url)],
    (v) => v.every((load) => load != null),
  );
  assert.deepEqual(last(b.backend.url), { engine: 'vllm', waiting: 0, running: 0, kvUsage: 0 });
  const agent = new Agent();
  const controller = new AbortController();
  t.after(() => {
    controller.abort();
    return agent.destroy();
  });
  for (let i = 0; i < 3; i++) {
    void request(`${a.backend.url}/v1/completions`, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock-model', prompt: 'x', max_tokens: 15, stream: true }),
      signal: controller.signal,
    })
      .then((res) => res.body.on('error', () => undefined).resume())
      .catch(() => undefined);
  }
  // 2 running and 1 waiting, each holding 16 tokens (one block) of the 2 × 2,048.
  await eventually(
    'the new load read',
    () => last(a.backend.url),
    (load) => load?.running === 2 && load.waiting === 1,
  );
  assert.deepEqual(last(a.backend.url), { engine: 'vllm', waiting: 1, running: 2, kvUsage: 2 / 256 });
});

test('a backend that stops answering: its reading goes stale after three intervals, once', TEST, async (t) => {
  const a = await startMock(t);
  const { probe, readings, last } = prober(t, { intervalMs: 30 });
  probe.watch(targetOf(a.backend.url));
  await eventually(
    'read',
    () => last(a.backend.url),
    (load) => load != null,
  );
  await a.backend.close();
  await eventually(
    'stale',
    () => last(a.backend.url),
    (load) => load === null,
  );
  await sleep(200);
  const list = readings.get(a.backend.url) ?? [];
  assert.deepEqual(
    list.filter((load) => load === null),
    [null],
    'one null, and no reading after it',
  );
  assert.equal(list.at(-1), null);
});

test('a backend whose /metrics is no engine we know: no reading, and it is not asked again soon', TEST, async (t) => {
  let asked = 0;
  const server = createServer((req, res) => {
    if (req.url === '/metrics') asked++;
    res.writeHead(req.url === '/metrics' ? 200 : 404, { 'content-type': 'text/plain' }).end('process_cpu_seconds_total 1\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { probe, readings } = prober(t, { intervalMs: 20 });
  probe.watch(targetOf(url));
  await eventually(
    'asked once',
    () => asked,
    (count) => count === 1,
  );
  await sleep(300);
  assert.deepEqual([asked, readings.has(url)], [1, false]);
});

test('idle: read at the idle pace; traffic wakes it to read at once', TEST, async (t) => {
  const a = await startMock(t);
  let busy = false;
  const { probe, readings } = prober(t, { intervalMs: 30, idleIntervalMs: 60_000 }, () => busy);
  probe.watch(targetOf(a.backend.url));
  await eventually(
    'read once',
    () => readings.get(a.backend.url)?.length ?? 0,
    (n) => n === 1,
  );
  await sleep(200);
  assert.equal(readings.get(a.backend.url)?.length, 1, 'not again while idle');
  busy = true;
  probe.wake();
  await eventually(
    'read again at the busy pace',
    () => readings.get(a.backend.url)?.length ?? 0,
    (n) => n >= 3,
  );
  probe.forget(a.backend.url);
  const count = readings.get(a.backend.url)?.length ?? 0;
  await sleep(150);
  assert.equal(readings.get(a.backend.url)?.length, count, 'a forgotten backend is not read');
});

test('idle without an idle pace: read once, then not until traffic wakes it', TEST, async (t) => {
  const a = await startMock(t);
  let busy = false;
  const { probe, readings } = prober(t, { intervalMs: 30, idleIntervalMs: 0 }, () => busy);
  probe.watch(targetOf(a.backend.url));
  await eventually(
    'read, then stale',
    () => readings.get(a.backend.url) ?? [],
    (list) => list.length === 2 && list[1] === null,
  );
  await sleep(200);
  assert.equal(readings.get(a.backend.url)?.length, 2, 'not read again while idle');
  busy = true;
  probe.wake();
  await eventually(
    'read again',
    () => readings.get(a.backend.url)?.at(-1),
    (load) => load != null,
  );
});
