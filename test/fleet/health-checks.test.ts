import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually } from '../../support/wait.js';
import { metricValue, postChat, scrape, startFleetProxy, startMocks } from '../helpers/fleet.js';
import { send } from '../helpers/http.js';

const TEST = { timeout: 60_000 };
const FAST_HEALTH = ['--health-interval', '100', '--health-timeout', '500', '--unhealthy-threshold', '2', '--healthy-threshold', '2'];

interface HealthBody {
  status: string;
  backends: Array<{
    url: string;
    state: string;
    inFlight: number;
    models: string[] | null;
    lastCheck: { result: string; ageSeconds: number } | null;
  }>;
}

const healthOf = async (base: string): Promise<{ status: number; body: HealthBody }> => {
  const res = await send(`${base}/healthz`);
  return { status: res.status, body: JSON.parse(res.text) as HealthBody };
};

test('one prober per proxy: a backend gets as many probes from 2 workers as from 1', TEST, async (t) => {
  const [one, two] = await startMocks(t, [{}, {}]);
  const single = await startFleetProxy(t, [one!.url], ['--workers', '1', '--health-interval', '100']);
  const double = await startFleetProxy(t, [two!.url], ['--workers', '2', '--health-interval', '100']);
  await eventually(
    'both probed',
    () => Math.min(one!.stats.healthChecks, two!.stats.healthChecks),
    (n) => n >= 2,
  );
  const start = [one!.stats.healthChecks, two!.stats.healthChecks];
  // The probe rate is what is under test: both proxies are watched over the same second.
  await sleep(1_500);
  const counted = [one!.stats.healthChecks - (start[0] as number), two!.stats.healthChecks - (start[1] as number)];
  assert.ok(Math.abs((counted[0] as number) - (counted[1] as number)) <= 2, `probes: 1 worker ${counted[0]}, 2 workers ${counted[1]}`);
  assert.ok((counted[1] as number) >= 8 && (counted[1] as number) <= 17, `about one per 100 ms: ${counted[1]}`);
  // The counter says what the backend saw (read between two probes: one may be on its way).
  await eventually(
    'backend_health_checks_total matches the probes received',
    async () => metricValue(await scrape(double), 'backend_health_checks_total', { url: two!.url, result: 'ok' }) - two!.stats.healthChecks,
    (difference) => difference === 0,
  );
  void single;
});

test('a backend failing its health checks is taken out, gets no traffic, and comes back after the healthy threshold', TEST, async (t) => {
  const [sick, well] = await startMocks(t, [{}, {}]);
  const proxy = await startFleetProxy(t, [sick!.url, well!.url], ['--workers', '2', '--slow-start', '0', ...FAST_HEALTH]);
  sick!.control({ health: 503 });
  const down = await eventually(
    'the sick backend down in /healthz',
    () => healthOf(proxy.url),
    (health) => health.body.backends.find((b) => b.url === sick!.url)?.state === 'down',
  );
  assert.equal(down.status, 200, 'one backend is still up');
  assert.equal(down.body.backends.find((b) => b.url === well!.url)?.state, 'up');
  const before = sick!.stats.completionRequests;
  for (let i = 0; i < 10; i++) assert.equal((await postChat(proxy.url)).status, 200);
  assert.equal(sick!.stats.completionRequests, before, 'no request for a backend that is down');
  let samples = await scrape(proxy);
  assert.equal(metricValue(samples, 'backend_up', { url: sick!.url }), 0);
  assert.equal(metricValue(samples, 'backend_up', { url: well!.url }), 1);
  assert.equal(metricValue(samples, 'backend_ejections_total', { url: sick!.url, reason: 'health_check' }), 1);
  assert.ok(metricValue(samples, 'backend_health_checks_total', { url: sick!.url, result: 'http_error' }) >= 2);

  sick!.control({ health: 200 });
  await eventually(
    'the backend up again',
    () => healthOf(proxy.url),
    (health) => health.body.backends.every((b) => b.state === 'up'),
  );
  for (let i = 0; i < 20; i++) assert.equal((await postChat(proxy.url)).status, 200);
  assert.ok(sick!.stats.completionRequests > before, 'it gets traffic again');
  samples = await scrape(proxy);
  assert.equal(metricValue(samples, 'backend_up', { url: sick!.url }), 1);
});

test('/healthz lists every backend (state, in-flight, models, last check) and is 503 when none is up', TEST, async (t) => {
  const [a, b] = await startMocks(t, [{ models: ['m1'] }, { models: ['m2'] }]);
  const proxy = await startFleetProxy(t, [a!.url, b!.url], ['--workers', '2', '--discovery-interval', '30s', ...FAST_HEALTH]);
  const ok = await eventually(
    'checked and discovered',
    () => healthOf(proxy.url),
    (health) => health.body.backends.every((backend) => backend.lastCheck !== null && backend.models !== null),
  );
  assert.equal(ok.status, 200);
  assert.equal(ok.body.status, 'ok');
  assert.deepEqual(
    ok.body.backends.map(({ url, state, inFlight, models, lastCheck }) => ({ url, state, inFlight, models, result: lastCheck?.result })),
    [
      { url: a!.url, state: 'up', inFlight: 0, models: ['m1'], result: 'ok' },
      { url: b!.url, state: 'up', inFlight: 0, models: ['m2'], result: 'ok' },
    ],
  );
  for (const mock of [a!, b!]) mock.control({ health: 'no-answer' });
  const none = await eventually(
    'every backend down',
    () => healthOf(proxy.url),
    (health) => health.status === 503,
  );
  assert.equal(none.body.status, 'no_backend_up');
  assert.deepEqual(
    none.body.backends.map((backend) => [backend.state, backend.lastCheck?.result]),
    [
      ['down', 'timeout'],
      ['down', 'timeout'],
    ],
  );
  const live = await send(`${proxy.url}/livez`);
  assert.equal(live.status, 200, '/livez does not depend on the backends');
});

test(
  'panic mode: a wrong --health-path marks every backend down, yet traffic is still served, counted and logged once',
  TEST,
  async (t) => {
    const mocks = await startMocks(t, [{}, {}]);
    const proxy = await startFleetProxy(
      t,
      mocks.map((mock) => mock.url),
      ['--workers', '2', '--health-path', '/wrong', ...FAST_HEALTH],
    );
    await eventually(
      'all down',
      async () => (await send(`${proxy.url}/healthz`)).status,
      (status) => status === 503,
    );
    for (let i = 0; i < 10; i++) assert.equal((await postChat(proxy.url)).status, 200);
    assert.equal(mocks[0]!.stats.completionRequests + mocks[1]!.stats.completionRequests, 10);
    assert.ok(mocks[0]!.stats.completionRequests > 0 && mocks[1]!.stats.completionRequests > 0, 'tried on all of them');
    const samples = await scrape(proxy);
    assert.equal(metricValue(samples, 'backend_panic_total', { scope: 'fleet' }), 10);
    assert.equal(metricValue(samples, 'backend_panic_total', { scope: 'model' }), 0);
    assert.equal(proxy.lines.filter((line) => line.msg === 'no backend is up: panic mode, requests go to every backend').length, 1);
  },
);

test('every backend really down: the client gets a 502 JSON error within a second, never a hang', TEST, async (t) => {
  const mocks = await startMocks(t, [{}, {}, {}]);
  const proxy = await startFleetProxy(
    t,
    mocks.map((mock) => mock.url),
    ['--workers', '1', ...FAST_HEALTH],
  );
  await Promise.all(mocks.map((mock) => mock.close()));
  const started = performance.now();
  const res = await postChat(proxy.url);
  const elapsed = performance.now() - started;
  assert.equal(res.status, 502);
  assert.equal((JSON.parse(res.text) as { error: { code: string } }).error.code, 'backend_unreachable');
  assert.ok(elapsed < 1_000, `${elapsed.toFixed(0)} ms`);
});

test('one model’s only backend down while another is up: panic for that model alone, counted apart, /healthz 200', TEST, async (t) => {
  const [chatOnly, embedOnly] = await startMocks(t, [{ models: ['chat-model'] }, { models: ['embed-model'], health: 503 }]);
  const proxy = await startFleetProxy(
    t,
    [chatOnly!.url, embedOnly!.url],
    ['--workers', '2', '--discovery-interval', '30s', ...FAST_HEALTH],
  );
  const health = await eventually(
    'the embedding backend down, the chat one up',
    async () => JSON.parse((await send(`${proxy.url}/healthz`)).text) as HealthBody,
    (body) => body.backends.map((backend) => backend.state).join() === 'up,down',
  );
  assert.equal(health.status, 'ok');
  assert.equal((await send(`${proxy.url}/healthz`)).status, 200);
  await eventually(
    'both model lists read',
    async () => (JSON.parse((await send(`${proxy.url}/v1/models`)).text) as { data: unknown[] }).data.length,
    (count) => count >= 1,
  );
  const json = { 'content-type': 'application/json' };
  // Its completions still work (only its health check fails): panic mode tries it rather than refusing.
  for (let i = 0; i < 6; i++) {
    const res = await send(`${proxy.url}/v1/embeddings`, { headers: json, body: JSON.stringify({ model: 'embed-model', input: 'x' }) });
    assert.equal(res.status, 200);
  }
  for (let i = 0; i < 4; i++) assert.equal((await postChat(proxy.url, { model: 'chat-model' })).status, 200);
  const samples = await scrape(proxy);
  assert.equal(metricValue(samples, 'backend_panic_total', { scope: 'model' }), 6);
  assert.equal(metricValue(samples, 'backend_panic_total', { scope: 'fleet' }), 0, 'the fleet is not in panic');
  assert.equal(proxy.lines.filter((line) => line.msg === 'no backend is up: panic mode, requests go to every backend').length, 0);
});

test("/healthz's last checks stay fresh on every worker while nothing else changes", TEST, async (t) => {
  const [a, b] = await startMocks(t, [{}, {}]);
  const proxy = await startFleetProxy(t, [a!.url, b!.url], ['--workers', '2', ...FAST_HEALTH]);
  await eventually(
    'checked',
    () => healthOf(proxy.url),
    (health) => health.body.backends.every((backend) => backend.lastCheck !== null),
  );
  // Every check after these changes only its own record: the workers get the records alone, within a second.
  await sleep(2_500);
  for (let i = 0; i < 6; i++) {
    const ages = (await healthOf(proxy.url)).body.backends.map((backend) => backend.lastCheck?.ageSeconds ?? Number.POSITIVE_INFINITY);
    assert.ok(
      ages.every((age) => age <= 1.5),
      `last check ages ${ages.join(', ')} s`,
    );
  }
});
