import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import type { MockBackend } from '../../src/mock-backend/create-mock-backend.js';
import { eventually } from '../../support/wait.js';
import { CHAT, chat, metricValue, scrape, startMocks } from '../helpers/fleet.js';
import { type CallResult, call } from '../helpers/http.js';
import { type RunningProxy, startCluster } from '../helpers/start-proxy.js';

const TEST = { timeout: 90_000 };
const JSON_HEADERS = { 'content-type': 'application/json' };

/** The proxy (2 workers) in front of `mocks`, each with `max_concurrency` in a config file. */
async function proxyWithLimit(
  t: TestContext,
  mocks: readonly MockBackend[],
  maxConcurrency: number,
  args: string[] = [],
): Promise<RunningProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'iproxy-queue-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'fleet.yaml');
  const lines = ['backends:', ...mocks.flatMap((mock) => [`  - url: ${mock.url}`, `    max_concurrency: ${maxConcurrency}`])];
  writeFileSync(path, `${lines.join('\n')}\n`);
  return startCluster(t, ['--config', path, '--workers', '2', ...args]);
}

/** A chat completion through the proxy; `priority` goes in x-priority. */
function ask(
  proxy: RunningProxy,
  name: string,
  options: { priority?: string; tokenDelayMs?: number; signal?: AbortSignal; timeoutMs?: number } = {},
) {
  const headers: Record<string, string> = { ...JSON_HEADERS, 'x-request-id': name };
  if (options.priority !== undefined) headers['x-priority'] = options.priority;
  if (options.tokenDelayMs !== undefined) headers['x-mock-token-delay-ms'] = String(options.tokenDelayMs);
  return call(`${proxy.url}${CHAT}`, { body: chat({ max_tokens: 5 }), headers, timeoutMs: options.timeoutMs ?? 30_000 });
}

/**
 * A 2-worker cluster in front of one backend of one slot (`max_concurrency: 1`) with these `keys:` entries,
 * and `as(key, name, headers)`: a small chat sent with that key, named by its x-request-id.
 */
async function keysCluster(t: TestContext, keys: readonly string[], timeoutMs: number) {
  const mocks = await startMocks(t, [{ tokenDelayMs: 20 }]);
  const mock = mocks[0] as MockBackend;
  const dir = mkdtempSync(join(tmpdir(), 'iproxy-queue-keys-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'fleet.yaml');
  const lines = ['backends:', `  - url: ${mock.url}`, '    max_concurrency: 1', 'keys:', ...keys.map((key) => `  - ${key}`), ''];
  writeFileSync(path, lines.join('\n'));
  const proxy = await startCluster(t, ['--config', path, '--workers', '2']);
  const as = (key: string, name: string, extra: Record<string, string> = {}): Promise<CallResult> =>
    call(`${proxy.url}${CHAT}`, {
      body: chat({ max_tokens: 5 }),
      headers: { ...JSON_HEADERS, authorization: `Bearer ${key}`, 'x-request-id': name, ...extra },
      timeoutMs,
    });
  return { mock, proxy, as };
}

async function queued(proxy: RunningProxy): Promise<number> {
  const samples = await scrape(proxy);
  return ['interactive', 'standard', 'batch'].reduce((sum, priority) => sum + metricValue(samples, 'queue_depth', { priority }), 0);
}

test('while the backend is full, requests wait in the proxy and go in priority order, whichever worker took them', TEST, async (t) => {
  const mocks = await startMocks(t, [{ tokenDelayMs: 20 }]);
  const mock = mocks[0] as MockBackend;
  const proxy = await proxyWithLimit(t, mocks, 1);
  // The one slot, held for 5 s: long enough for the others to queue on a busy machine.
  const holder = ask(proxy, 'holder', { tokenDelayMs: 1_000 });
  await eventually('holder sent', () => mock.stats.completionRequests === 1);
  const finished: string[] = [];
  const waiting: Array<Promise<CallResult>> = [];
  const plan = [
    ['batch-1', 'batch'],
    ['batch-2', 'batch'],
    ['standard-1', undefined],
    ['interactive-asked', 'interactive'],
    ['batch-3', 'batch'],
  ] as const;
  for (const [name, priority] of plan) {
    waiting.push(
      ask(proxy, name, priority === undefined ? {} : { priority }).then((res) => {
        finished.push(name);
        return res;
      }),
    );
    await eventually(
      `${name} queued`,
      () => queued(proxy),
      (n) => n === waiting.length,
    );
  }
  const samples = await scrape(proxy);
  assert.deepEqual(
    ['interactive', 'standard', 'batch'].map((priority) => metricValue(samples, 'queue_depth', { priority })),
    [0, 2, 3],
    'x-priority may lower a class, never raise it: the request asking for interactive is standard',
  );
  assert.equal(metricValue(samples, 'backend_saturated', { url: mock.url }), 1);
  assert.equal(mock.stats.completionRequests, 1, 'nothing queued reached the backend');
  assert.equal((await holder).status, 200);
  for (const res of await Promise.all(waiting)) assert.equal(res.status, 200);
  assert.deepEqual(finished, ['standard-1', 'interactive-asked', 'batch-1', 'batch-2', 'batch-3']);
  // The last request's end reaches the primary with its worker's next load report.
  const after = await eventually(
    'room again',
    () => scrape(proxy),
    (s) => metricValue(s, 'backend_saturated', { url: mock.url }) === 0,
  );
  assert.deepEqual(
    [
      metricValue(after, 'queue_wait_seconds_count', { priority: 'standard' }),
      metricValue(after, 'queue_wait_seconds_count', { priority: 'batch' }),
      metricValue(after, 'queue_depth', { priority: 'standard' }),
      metricValue(after, 'queue_depth', { priority: 'batch' }),
      metricValue(after, 'backend_saturated', { url: mock.url }),
      after.has('queue_rejected_total') ? (after.get('queue_rejected_total') ?? []).length : 0,
    ],
    // The holder took the backend's last slot, which the primary hands out itself: it passed through the queue at once.
    [3, 3, 0, 0, 0, 0],
  );
  assert.equal(metricValue(after, 'output_requests_total', { url: mock.url, endpoint: CHAT, status: '200' }), 6);
});

test('a request that waits --queue-timeout gets 429 with Retry-After; one whose client leaves is gone at once', TEST, async (t) => {
  const mocks = await startMocks(t, [{}]);
  const mock = mocks[0] as MockBackend;
  const proxy = await proxyWithLimit(t, mocks, 1, ['--queue-timeout', '500']);
  const holder = ask(proxy, 'holder', { tokenDelayMs: 600 });
  await eventually('holder sent', () => mock.stats.completionRequests === 1);
  const late = await ask(proxy, 'late', { priority: 'batch' });
  assert.equal(late.status, 429);
  assert.equal(late.headers['retry-after'], '1');
  assert.deepEqual(JSON.parse(late.text), {
    error: {
      message: 'every backend for this request stayed saturated for 1 s; retry later',
      type: 'rate_limit_error',
      code: 'queue_timeout',
    },
  });
  // A client that leaves: out of the queue at once, and the backend never sees it.
  const controller = new AbortController();
  const leaving = call(`${proxy.url}${CHAT}`, {
    body: chat({ max_tokens: 5 }),
    headers: JSON_HEADERS,
    timeoutMs: 30_000,
    signal: controller.signal,
  } as Parameters<typeof call>[1]);
  await eventually(
    'queued',
    () => queued(proxy),
    (n) => n === 1,
  );
  controller.abort();
  await leaving;
  await eventually(
    'out of the queue',
    () => queued(proxy),
    (n) => n === 0,
    { timeoutMs: 2_000 },
  );
  assert.equal((await holder).status, 200);
  assert.equal(mock.stats.completionRequests, 1, 'neither the late nor the leaving request reached the backend');
  const samples = await eventually(
    'the leaving request recorded',
    () => scrape(proxy),
    (s) => metricValue(s, 'output_requests_total', { url: 'none', endpoint: CHAT, status: '499' }) === 1,
  );
  assert.deepEqual(
    [
      metricValue(samples, 'queue_rejected_total', { priority: 'batch', reason: 'timeout' }),
      metricValue(samples, 'queue_rejected_total', { priority: 'standard', reason: 'client_gone' }),
      metricValue(samples, 'queue_wait_seconds_count', { priority: 'batch' }),
      metricValue(samples, 'queue_wait_seconds_count', { priority: 'standard' }),
      metricValue(samples, 'output_requests_total', { url: 'none', endpoint: CHAT, status: '429' }),
      metricValue(samples, 'input_requests_total', { url: 'none', endpoint: CHAT }),
      metricValue(samples, 'in_flight_requests', { url: 'none' }),
    ],
    [1, 1, 1, 2, 1, 2, 0],
  );
});

test('a bad x-priority is a 400 naming the classes', TEST, async (t) => {
  const mocks = await startMocks(t, [{}]);
  const proxy = await proxyWithLimit(t, mocks, 4);
  const res = await ask(proxy, 'bad', { priority: 'urgent' });
  assert.equal(res.status, 400);
  assert.deepEqual(JSON.parse(res.text), {
    error: { message: 'x-priority must be interactive, standard or batch', type: 'invalid_request_error', code: 'invalid_priority' },
  });
});

test('--queue off: a saturated backend is sent requests on, nothing waits', TEST, async (t) => {
  const mocks = await startMocks(t, [{}]);
  const mock = mocks[0] as MockBackend;
  const proxy = await proxyWithLimit(t, mocks, 1, ['--queue', 'off']);
  const results = await Promise.all([ask(proxy, 'a', { tokenDelayMs: 100 }), ask(proxy, 'b', { tokenDelayMs: 100 }), ask(proxy, 'c')]);
  assert.deepEqual(
    results.map((res) => res.status),
    [200, 200, 200],
  );
  assert.equal(mock.stats.completionRequests, 3);
  assert.equal((await scrape(proxy)).has('queue_wait_seconds_count'), false, 'no queue series: nothing ever waited');
});

test("--engine-priority on: the class goes on as vLLM's priority field, to an engine that schedules by it", TEST, async (t) => {
  const mocks = await startMocks(t, [{ schedulingPolicy: 'priority' }]);
  const mock = mocks[0] as MockBackend;
  const proxy = await proxyWithLimit(t, mocks, 4, ['--engine-priority', 'on']);
  const sentBody = () => JSON.parse((mock.stats.lastRequest?.body ?? Buffer.from('{}')).toString()) as Record<string, unknown>;
  assert.equal((await ask(proxy, 'batch', { priority: 'batch' })).status, 200);
  assert.equal(sentBody().priority, 1);
  assert.equal((await ask(proxy, 'standard')).status, 200);
  assert.equal('priority' in sentBody(), false);
});

test(
  '--engine-priority off (the default): nothing is added, and an engine without priority scheduling serves every class',
  TEST,
  async (t) => {
    const mocks = await startMocks(t, [{}]);
    const mock = mocks[0] as MockBackend;
    const proxy = await proxyWithLimit(t, mocks, 4);
    assert.equal((await ask(proxy, 'batch', { priority: 'batch' })).status, 200);
    assert.equal('priority' in JSON.parse((mock.stats.lastRequest?.body ?? Buffer.from('{}')).toString()), false);
  },
);

test("keys: a request queues in its key's class, x-priority cannot raise it, and keys of one class take turns", TEST, async (t) => {
  const { mock, proxy, as } = await keysCluster(
    t,
    [
      '{ name: app, key: app-key, priority: interactive }',
      '{ name: heavy, key: heavy-key, priority: batch }',
      '{ name: light, key: light-key, priority: batch }',
    ],
    30_000,
  );
  const holder = as('app-key', 'holder', { 'x-mock-token-delay-ms': '1000' });
  await eventually('holder sent', () => mock.stats.completionRequests === 1);
  const finished: string[] = [];
  const waiting: Array<Promise<CallResult>> = [];
  const plan: Array<[string, string, Record<string, string>]> = [
    ['heavy-1', 'heavy-key', {}],
    ['heavy-2', 'heavy-key', {}],
    ['heavy-3', 'heavy-key', { 'x-priority': 'interactive' }],
    ['light-1', 'light-key', {}],
    ['light-2', 'light-key', {}],
    ['app-1', 'app-key', { 'x-priority': 'batch' }],
    ['app-2', 'app-key', {}],
  ];
  for (const [name, key, extra] of plan) {
    waiting.push(
      as(key, name, extra).then((res) => {
        finished.push(name);
        return res;
      }),
    );
    await eventually(
      `${name} queued`,
      () => queued(proxy),
      (n) => n === waiting.length,
    );
  }
  const samples = await scrape(proxy);
  assert.deepEqual(
    ['interactive', 'standard', 'batch'].map((priority) => metricValue(samples, 'queue_depth', { priority })),
    [1, 0, 6],
  );
  assert.equal((await holder).status, 200);
  for (const res of await Promise.all(waiting)) assert.equal(res.status, 200);
  // app-2 (interactive) first; then the batch keys by turns, each in its own order: app-1 (lowered to batch) is a
  // third batch key's first request.
  assert.deepEqual(finished, ['app-2', 'heavy-1', 'light-1', 'app-1', 'heavy-2', 'light-2', 'heavy-3']);
});

test('keys of one class share the backend by their weights while both wait (3:1)', TEST, async (t) => {
  const { mock, proxy, as } = await keysCluster(
    t,
    ['{ name: heavy, key: heavy-key, weight: 3 }', '{ name: light, key: light-key, weight: 1 }'],
    60_000,
  );
  // The one slot, held for 10 s while twelve requests queue on a busy machine.
  const holder = as('heavy-key', 'holder', { 'x-mock-token-delay-ms': '2000' });
  await eventually('holder sent', () => mock.stats.completionRequests === 1);
  const finished: string[] = [];
  const waiting: Array<Promise<CallResult>> = [];
  // Each key's requests all wait before the first is granted: the heavy key's first, so that it would lead
  // by arrival alone.
  const plan = [
    ...[1, 2, 3, 4, 5, 6].map((i) => ['heavy-key', `heavy-${i}`]),
    ...[1, 2, 3, 4, 5, 6].map((i) => ['light-key', `light-${i}`]),
  ];
  for (const [key, name] of plan as Array<[string, string]>) {
    waiting.push(
      as(key, name).then((res) => {
        finished.push(name);
        return res;
      }),
    );
    await eventually(
      `${name} queued`,
      () => queued(proxy),
      (n) => n === waiting.length,
    );
  }
  assert.equal(mock.stats.completionRequests, 1, 'every request waited for the holder');
  assert.equal((await holder).status, 200);
  for (const res of await Promise.all(waiting)) assert.equal(res.status, 200);
  // While both keys wait, three of the heavy key's for each of the light key's (ties go to the earlier
  // request); ignoring weights would alternate them. Then the light key's rest.
  const whileBoth = finished.slice(0, 8);
  assert.deepEqual(
    [whileBoth.filter((name) => name.startsWith('heavy')).length, whileBoth.filter((name) => name.startsWith('light')).length],
    [6, 2],
    finished.join(' '),
  );
  assert.deepEqual(finished, [
    'heavy-1',
    'heavy-2',
    'heavy-3',
    'light-1',
    'heavy-4',
    'heavy-5',
    'heavy-6',
    'light-2',
    'light-3',
    'light-4',
    'light-5',
    'light-6',
  ]);
});
