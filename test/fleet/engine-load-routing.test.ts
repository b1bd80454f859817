import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { Agent, request } from 'undici';
import type { MockBackend } from '../../src/mock-backend/create-mock-backend.js';
import { eventually } from '../../support/wait.js';
import { CHAT, chat, inParallel, metricValue, scrape, startFleetProxy, startMocks } from '../helpers/fleet.js';
import { call } from '../helpers/http.js';
import type { RunningProxy } from '../helpers/start-proxy.js';

const TEST = { timeout: 120_000 };
/** Requests the third client keeps in progress on backend A, straight to it (A has room for 4 more). */
const DIRECT = 20;
const PER_INSTANCE = 60;
/** A has 24 slots, 20 of them the third client's long streams; B and C have 8. Requests through the proxies take 100 ms. */
const ENGINES = [
  { maxNumSeqs: DIRECT + 4, tokenDelayMs: 10 },
  { maxNumSeqs: 8, tokenDelayMs: 10 },
  { maxNumSeqs: 8, tokenDelayMs: 10 },
];

/** A client that keeps `count` long streams on `mock` directly, ended when the test ends. */
async function loadDirectly(t: TestContext, mock: MockBackend, count: number): Promise<void> {
  const agent = new Agent();
  const controller = new AbortController();
  t.after(async () => {
    controller.abort();
    await agent.destroy();
  });
  for (let i = 0; i < count; i++) {
    void request(`${mock.url}/v1/chat/completions`, {
      method: 'POST',
      dispatcher: agent,
      // 2,000 tokens 100 ms apart: still running when the test ends them.
      headers: { 'content-type': 'application/json', 'x-mock-token-delay-ms': '100' },
      body: JSON.stringify({ model: 'mock-model', stream: true, max_tokens: 2000, messages: [{ role: 'user', content: 'direct' }] }),
      signal: controller.signal,
    })
      .then((res) => res.body.on('error', () => undefined).resume())
      .catch(() => undefined);
  }
  await eventually(
    'the direct load on A',
    () => mock.stats.engine.running + mock.stats.engine.waiting,
    (n) => n === count,
  );
}

/** Two proxy instances of 2 workers each in front of A, B and C, reading the engines every 50 ms (or never: 0). */
async function twoInstances(t: TestContext, urls: string[], loadInterval: string): Promise<RunningProxy[]> {
  // Health checks every second: engines are read at that pace while an instance is idle.
  const args = ['--workers', '2', '--routing', 'least-load', '--load-interval', loadInterval, '--health-interval', '1s'];
  return Promise.all([startFleetProxy(t, urls, args), startFleetProxy(t, urls, args)]);
}

/** The share of a proxy's requests that went to `url`, from its own input_requests_total. */
async function shareOf(proxy: RunningProxy, urls: readonly string[], url: string): Promise<number> {
  const samples = await scrape(proxy);
  const count = (u: string) => metricValue(samples, 'input_requests_total', { url: u, endpoint: '/v1/chat/completions' });
  const total = urls.reduce((sum, u) => sum + count(u), 0);
  assert.equal(total, PER_INSTANCE);
  return count(url) / total;
}

/** PER_INSTANCE requests through each instance, 6 at a time, each bounded by a client timeout. */
async function sendThrough(proxies: readonly RunningProxy[]): Promise<number[]> {
  return (
    await Promise.all(
      proxies.map((proxy) =>
        inParallel(PER_INSTANCE, 6, async () => {
          const body = chat({ max_tokens: 10 });
          return (await call(`${proxy.url}${CHAT}`, { body, headers: { 'content-type': 'application/json' }, timeoutMs: 2_000 })).status;
        }),
      ),
    )
  ).flat();
}

test('two instances in front of 3 backends, a third client keeping 20 requests on A: both send A at most 10%', TEST, async (t) => {
  const mocks = await startMocks(t, ENGINES);
  const [a] = mocks as [MockBackend, MockBackend, MockBackend];
  const urls = mocks.map((mock) => mock.url);
  await loadDirectly(t, a, DIRECT);
  const proxies = await twoInstances(t, urls, '50');
  // Each instance has read A's engine: the gauges as A tells them.
  const engineA = a.stats.engine;
  for (const proxy of proxies) {
    const samples = await eventually(
      'A read',
      () => scrape(proxy),
      (s) => metricValue(s, 'backend_engine_running', { url: a.url }) === DIRECT,
    );
    assert.equal(metricValue(samples, 'backend_engine_waiting', { url: a.url }), 0);
    assert.equal(metricValue(samples, 'backend_engine_kv_usage', { url: a.url }), engineA.kvBlocksUsed / engineA.kvBlocks);
    assert.equal(metricValue(samples, 'backend_engine_waiting', { url: urls[1] as string }), 0);
  }
  const statuses = await sendThrough(proxies);
  assert.deepEqual(new Set(statuses), new Set([200]));
  for (const proxy of proxies) {
    const share = await shareOf(proxy, urls, a.url);
    assert.ok(share <= 0.1, `A got ${(share * 100).toFixed(1)}% of an instance's requests`);
  }
});

test('the same without engine reads (--load-interval 0): each instance sees A idle and sends it a third', TEST, async (t) => {
  const mocks = await startMocks(t, ENGINES);
  const [a] = mocks as [MockBackend, MockBackend, MockBackend];
  const urls = mocks.map((mock) => mock.url);
  await loadDirectly(t, a, DIRECT);
  const proxies = await twoInstances(t, urls, '0');
  const statuses = await sendThrough(proxies);
  assert.deepEqual(new Set(statuses), new Set([200]));
  for (const proxy of proxies) {
    const share = await shareOf(proxy, urls, a.url);
    assert.ok(share >= 0.2, `A got ${(share * 100).toFixed(1)}% of an instance's requests`);
    assert.equal(metricValue(await scrape(proxy), 'backend_engine_running', { url: a.url }), 0, 'no engine series without reads');
  }
});
