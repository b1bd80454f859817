import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type MockBackendProcess, spawnMockBackend } from '../../src/mock-backend/spawn-mock-backend.js';
import { eventually } from '../../support/wait.js';
import { CHAT, chat, metricValue, scrape, startClientLoad, startFleetProxy } from '../helpers/fleet.js';
import { call, send, wasCut } from '../helpers/http.js';

const JSON_HEADERS = { 'content-type': 'application/json' };
const HEALTH = ['--health-interval', '100', '--health-timeout', '300', '--unhealthy-threshold', '2', '--healthy-threshold', '2'];

async function spawnMocks(count: number, args: string[]): Promise<MockBackendProcess[]> {
  return Promise.all(Array.from({ length: count }, () => spawnMockBackend({ args })));
}

test('kill -9 a backend under load: no failed request, its streams end at once, it gets nothing until it is back', {
  timeout: 90_000,
}, async (t) => {
  const backends = await spawnMocks(3, ['--ttft-ms', '20', '--token-delay-ms', '40']);
  let restarted: MockBackendProcess | null = null;
  t.after(() => Promise.all([...backends, ...(restarted === null ? [] : [restarted])].map((backend) => backend.stop())));
  const [victim] = backends as [MockBackendProcess];
  const proxy = await startFleetProxy(
    t,
    backends.map((backend) => backend.url),
    ['--workers', '1', '--routing', 'round-robin', '--slow-start', '0', ...HEALTH],
  );
  // Six long streams, two on each backend (round-robin from one worker): 100 tokens, 40 ms apart.
  const streams = Array.from({ length: 6 }, () =>
    call(`${proxy.url}${CHAT}`, { method: 'POST', headers: JSON_HEADERS, body: chat({ stream: true, max_tokens: 100 }) }).then(
      (result) => ({ ...result, endedAt: performance.now() }),
    ),
  );
  await eventually(
    'every stream started',
    async () => (await send(`${proxy.url}/healthz`)).text,
    (text) => (JSON.parse(text) as { backends: Array<{ inFlight: number }> }).backends.every((b) => b.inFlight === 2),
  );
  // Clients that never retry send requests one after another, before, during and after the kill.
  const load = await startClientLoad(proxy.url);
  const statuses = load.statuses;
  const killedAt = performance.now();
  process.kill(victim.pid, 'SIGKILL');
  const ended = await Promise.all(streams);
  const cut = ended.filter((stream) => wasCut(stream));
  assert.equal(cut.length, 2, 'the two streams on the killed backend were cut');
  for (const stream of cut) {
    assert.equal(stream.text.includes('[DONE]'), false);
    // It ended with the backend (the kernel closed its sockets), not at the body timeout minutes later.
    assert.ok(stream.endedAt - killedAt < 2_000, `cut ${(stream.endedAt - killedAt).toFixed(0)} ms after the kill`);
  }
  for (const stream of ended.filter((s) => !wasCut(s))) assert.ok(stream.text.endsWith('data: [DONE]\n\n'));
  const down = await eventually(
    'the killed backend down',
    async () => JSON.parse((await send(`${proxy.url}/healthz`)).text) as { backends: Array<{ url: string; state: string }> },
    (health) => health.backends.find((b) => b.url === victim.url)?.state === 'down',
  );
  assert.ok(down);
  const retriedAway = async () => metricValue(await scrape(proxy), 'upstream_retries_total', { url: victim.url, reason: 'connect' });
  const atDown = await retriedAway();
  const sentAtDown = statuses.length;
  await eventually(
    'more load',
    () => statuses.length,
    (n) => n >= sentAtDown + 40,
  );
  assert.equal(await retriedAway(), atDown, 'once down, no request is even tried on it');
  const samples = await scrape(proxy);
  assert.equal(metricValue(samples, 'stream_outcomes_total', { url: victim.url, endpoint: CHAT, outcome: 'upstream_error' }), 2);
  const servedBeforeRestart = metricValue(samples, 'output_requests_total', { url: victim.url, endpoint: CHAT, status: '200' });

  restarted = await spawnMockBackend({ port: Number(new URL(victim.url).port), args: ['--ttft-ms', '20'] });
  await eventually(
    'traffic on the restarted backend',
    async () => metricValue(await scrape(proxy), 'output_requests_total', { url: victim.url, endpoint: CHAT, status: '200' }),
    (served) => served > servedBeforeRestart,
    { timeoutMs: 15_000 },
  );
  await load.stop();
  assert.ok(statuses.length > 40);
  assert.deepEqual([...new Set(statuses)], [200], 'no client request failed');
});
