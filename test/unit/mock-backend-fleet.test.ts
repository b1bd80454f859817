import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { createMockBackend } from '../../src/mock-backend/create-mock-backend.js';
import { spawnMockBackend } from '../../src/mock-backend/spawn-mock-backend.js';
import { eventually } from '../../support/wait.js';
import { startMock } from '../helpers/mock-harness.js';

const TEST = { timeout: 20_000 };
const CHAT = '/v1/chat/completions';
// Long enough that a request that should stay unanswered would have been answered by then.
const QUIET_MS = 150;

function chat(model: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model, max_tokens: 2, messages: [{ role: 'user', content: 'hi' }], ...extra };
}

async function json(pending: ReturnType<typeof request>): Promise<{ status: number; headers: Record<string, unknown>; body: unknown }> {
  const res = await pending;
  return { status: res.statusCode, headers: res.headers, body: await res.body.json() };
}

test('models: listed in order, served, and vLLM 404 for any other on completions and embeddings', TEST, async (t) => {
  const { backend, post, get } = await startMock(t, { models: ['alpha', 'beta'] });
  const list = (await json(get('/v1/models'))).body as { object: string; data: Array<{ id: string; object: string }> };
  assert.equal(list.object, 'list');
  assert.deepEqual(
    list.data.map((m) => [m.id, m.object]),
    [
      ['alpha', 'model'],
      ['beta', 'model'],
    ],
  );
  assert.equal((await post(CHAT, chat('beta'))).statusCode, 200);
  const notServed = {
    error: { message: 'The model `gamma` does not exist.', type: 'NotFoundError', param: 'model', code: 404 },
  };
  for (const [path, body] of [
    [CHAT, chat('gamma')],
    ['/v1/completions', { model: 'gamma', prompt: 'x' }],
    ['/v1/embeddings', { model: 'gamma', input: 'x' }],
  ] as const) {
    const answer = await json(post(path, body));
    assert.deepEqual([answer.status, answer.body], [404, notServed], path);
  }
  assert.deepEqual(
    [backend.stats.completionRequests, backend.stats.embeddingsRequests, backend.stats.modelListRequests],
    [3, 1, 1],
    'requests are counted whatever the answer',
  );
});

test('model is shorthand for one model; anyModel answers every name; listModels false has no /v1/models', TEST, async (t) => {
  const one = await startMock(t, { model: 'solo' });
  assert.deepEqual(one.backend.control().models, ['solo']);
  assert.equal((await one.post(CHAT, chat('other'))).statusCode, 404);

  const any = await startMock(t, { anyModel: true, listModels: false });
  assert.equal((await any.post(CHAT, chat('whatever-the-client-says'))).statusCode, 200);
  const models = await json(any.get('/v1/models'));
  assert.equal(models.status, 404);
  assert.equal(any.backend.stats.modelListRequests, 1);
});

test('health: status, delay and no answer, changed at runtime; every probe counted', TEST, async (t) => {
  const { backend, get } = await startMock(t);
  const probe = async (): Promise<number> => {
    const res = await get('/health');
    await res.body.dump();
    return res.statusCode;
  };
  assert.equal(await probe(), 200);
  backend.control({ health: 503 });
  assert.equal(await probe(), 503);
  backend.control({ health: 200, healthDelayMs: 200 });
  const startedMs = performance.now();
  assert.equal(await probe(), 200);
  assert.ok(performance.now() - startedMs >= 195, 'answered after the delay');
  backend.control({ health: 'no-answer', healthDelayMs: 0 });
  const unanswered = probe().then(
    () => 'answered',
    () => 'closed',
  );
  assert.equal(await Promise.race([unanswered, sleep(QUIET_MS, 'quiet')]), 'quiet');
  assert.equal(backend.stats.healthChecks, 4);
  await backend.close();
  assert.equal(await unanswered, 'closed');
});

test('completion status with Retry-After, flipped while a stream runs: the stream keeps its controls', TEST, async (t) => {
  const { backend, post } = await startMock(t, { tokenDelayMs: 30 });
  const running = await post(CHAT, chat('mock-model', { stream: true, max_tokens: 5 }));
  backend.control({ completionStatus: 429, retryAfterSec: 2 });
  const refused = await json(post(CHAT, chat('mock-model')));
  assert.equal(refused.status, 429);
  assert.equal(refused.headers['retry-after'], '2');
  assert.deepEqual(refused.body, { error: { message: 'Simulated status 429', type: 'invalid_request_error', param: null, code: 429 } });
  backend.control({ completionStatus: 503, retryAfterSec: null });
  const unavailable = await json(post('/v1/completions', { model: 'mock-model', prompt: 'x' }));
  assert.deepEqual([unavailable.status, unavailable.headers['retry-after']], [503, undefined]);
  assert.equal(running.statusCode, 200);
  assert.match(await running.body.text(), / tok4".*\n\ndata: \[DONE\]\n\n$/s);
  backend.control({ completionStatus: null });
  assert.equal((await post(CHAT, chat('mock-model'))).statusCode, 200);
  assert.equal(backend.stats.completionRequests, 4);
});

test('latency set at runtime: a slow backend takes its ttft on every request', TEST, async (t) => {
  const { backend, post } = await startMock(t);
  backend.control({ ttftMs: 300 });
  const startedMs = performance.now();
  const res = await post(CHAT, chat('mock-model'));
  await res.body.dump();
  assert.ok(performance.now() - startedMs >= 295, 'the answer waited for the ttft');
});

test('control(): validates the whole patch first, names the bad field, returns every control', TEST, async (t) => {
  const { backend } = await startMock(t);
  // Pinned as text: the defaults and the order a GET /mock/control shows them in.
  assert.equal(
    JSON.stringify(backend.control()),
    '{"models":["mock-model"],"listModels":true,"anyModel":false,"health":200,"healthDelayMs":0,' +
      '"completionStatus":null,"retryAfterSec":null,"ttftMs":0,"tokenDelayMs":0,"crashInPrefill":false}',
  );
  assert.throws(() => backend.control({ ttftMs: 5, health: 99 }), {
    name: 'TypeError',
    message: /'health' must be a status from 200 to 599/,
  });
  assert.throws(() => backend.control({ completionStatus: 200 }), /'completionStatus' must be a status from 400 to 599, or null/);
  assert.throws(() => backend.control({ nope: 1 } as never), /Unknown control 'nope'/);
  assert.equal(backend.control().ttftMs, 0, 'a refused patch changes nothing');
  await assert.rejects(startMock(t, { tokenDelayMs: -1 }), /'tokenDelayMs' must be an integer/);
});

test('control surface over HTTP: POST and GET /mock/control, GET /mock/stats, none of them counted', TEST, async (t) => {
  const { backend, post, get } = await startMock(t);
  const changed = await json(post('/mock/control', { health: 'no-answer', models: ['a', 'b'] }));
  assert.equal(changed.status, 200);
  assert.deepEqual((changed.body as { health: unknown; models: unknown }).health, 'no-answer');
  assert.deepEqual(backend.control().models, ['a', 'b']);
  assert.deepEqual((await json(get('/mock/control'))).body, backend.control());
  const bad = await json(post('/mock/control', { healthDelayMs: 'slow' }));
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.body, {
    error: {
      message: `Control 'healthDelayMs' must be an integer from 0 to 2147483647`,
      type: 'invalid_request_error',
      param: null,
      code: 400,
    },
  });
  assert.equal((await json(post('/mock/control', '[1]'))).status, 400);
  assert.equal((await post(CHAT, chat('a'))).statusCode, 200);
  const stats = (await json(get('/mock/stats'))).body as Record<string, unknown>;
  assert.deepEqual(
    [stats.requests, stats.completed, stats.completionRequests, stats.healthChecks, stats.lastRequest],
    [1, 1, 1, 0, undefined],
  );
  assert.deepEqual(stats.prefixCache, { queries: 0, hits: 0, waiting: 0, running: 0, cachedBlocks: 0 });
  assert.equal(backend.stats.lastRequest?.url, CHAT, 'control requests do not become the last request');
});

test('CLI: flags set the controls, /mock/control changes them, kill -9 ends it', TEST, async (t) => {
  const mock = await spawnMockBackend({
    args: ['--models', 'a,b', '--health', '503', '--completion-status', '429', '--retry-after-sec', '3', '--no-list-models'],
  });
  t.after(() => mock.stop());
  assert.match(mock.command, /^node \S*dist\/src\/mock-backend\/main\.js --port \d+ --models a,b --health 503 /);
  assert.equal(mock.command.split('--port ')[1]?.split(' ')[0], new URL(mock.url).port, 'the restart command keeps the port');
  const health = await request(`${mock.url}/health`);
  await health.body.dump();
  assert.equal(health.statusCode, 503);
  const refused = await request(`${mock.url}${CHAT}`, { method: 'POST', body: JSON.stringify(chat('a')) });
  await refused.body.dump();
  assert.deepEqual([refused.statusCode, refused.headers['retry-after']], [429, '3']);
  assert.equal((await request(`${mock.url}/v1/models`)).statusCode, 404);
  const control = await request(`${mock.url}/mock/control`, { method: 'POST', body: '{"health":200,"completionStatus":null}' });
  await control.body.dump();
  const served = await request(`${mock.url}${CHAT}`, { method: 'POST', body: JSON.stringify(chat('b')) });
  assert.equal(served.statusCode, 200);
  await served.body.dump();
  const stats = (await (await request(`${mock.url}/mock/stats`)).body.json()) as Record<string, number>;
  assert.deepEqual([stats.healthChecks, stats.completionRequests, stats.modelListRequests], [1, 2, 1]);
  mock.child.kill('SIGKILL');
  await mock.exited;
  await eventually(
    'the port refuses connections',
    () =>
      request(`${mock.url}/health`).then(
        () => false,
        () => true,
      ),
    Boolean,
    {
      timeoutMs: 5_000,
    },
  );
});

test('CLI: a taken port or a bad flag fails the start with the reason', TEST, async (t) => {
  const first = await spawnMockBackend();
  t.after(() => first.stop());
  await assert.rejects(
    spawnMockBackend({ port: Number(new URL(first.url).port) }),
    /exited \(1\): mock-backend: cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/,
  );
  await assert.rejects(spawnMockBackend({ args: ['--health', 'sick'] }), /exited \(2\): mock-backend: --health must be a status/);
});

test('alsoHosts: one backend takes connections on several loopback addresses, same port', async (t) => {
  const backend = await createMockBackend({ port: 0, alsoHosts: ['127.0.0.2', '127.0.0.3'] });
  t.after(() => backend.close());
  for (const host of ['127.0.0.1', '127.0.0.2', '127.0.0.3']) {
    const res = await fetch(`http://${host}:${backend.port}/version`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { version: 'mock-0.1.0' });
  }
  assert.equal(backend.stats.connections, 3);
});
