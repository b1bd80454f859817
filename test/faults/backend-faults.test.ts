import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { type TestContext, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { type PromSamples, parsePromText, sampleValue, sumSamples } from '../../src/metrics/prom-text.js';
import { freePort } from '../../support/ports.js';
import { eventually } from '../../support/wait.js';
import { startRaceBackend } from '../helpers/fault-backends.js';
import { openRaw, type RawClient, statusOf } from '../helpers/fault-tools.js';
import { call, chatBody, send, wasCut } from '../helpers/http.js';
import { startInProcessProxy } from '../helpers/in-process-proxy.js';
import { startMockBackend } from '../helpers/mock-backend.js';
import { type LogLine, type RunningProxy, startCluster } from '../helpers/start-proxy.js';

const TEST_TIMEOUT_MS = 60_000;
/** "Within a second", bounded generously for a loaded 2-core machine. */
const QUICK_MS = 3_000;
const CHAT = '/v1/chat/completions';
const JSON_HEADERS = { 'content-type': 'application/json' };

const cluster = (t: TestContext, backendUrl: string, extra: string[] = []): Promise<RunningProxy> =>
  startCluster(t, ['--workers', '2', '--backend-url', backendUrl, ...extra]);

async function metricsOf(running: RunningProxy): Promise<PromSamples> {
  const res = await send(`${running.url}/metrics`);
  assert.equal(res.status, 200);
  return parsePromText(res.text);
}

/** Waits until the aggregated sample reaches `expected` (workers record just before or as the client sees the end). */
async function expectSample(running: RunningProxy, name: string, labels: Record<string, string>, expected: number): Promise<void> {
  await eventually(
    `${name}${JSON.stringify(labels)} == ${expected}`,
    async () => sampleValue(await metricsOf(running), name, labels) ?? 0,
    (value) => value === expected,
  );
}

function streamBody(fields: Record<string, unknown> = {}): string {
  return chatBody({ stream: true, max_tokens: 6, ...fields });
}

function assertOpenAiError(text: string, type: string, code: string): void {
  const body = JSON.parse(text) as { error: Record<string, unknown> };
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'type']);
  assert.equal(body.error.type, type);
  assert.equal(body.error.code, code);
  assert.equal(typeof body.error.message, 'string');
}

test('backend down: a quick 502 with an OpenAI error, /healthz and /metrics answer, and the proxy recovers by itself', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const port = await freePort();
  const backendUrl = `http://127.0.0.1:${port}`;
  const running = await cluster(t, backendUrl);

  // Fresh connections: the requests spread over both workers.
  for (let i = 0; i < 4; i++) {
    const started = performance.now();
    const res = await send(`${running.url}/inference${CHAT}`, { body: chatBody(), headers: JSON_HEADERS });
    const elapsed = performance.now() - started;
    assert.equal(res.status, 502, res.text);
    assert.ok(elapsed < QUICK_MS, `502 after ${elapsed.toFixed(0)} ms`);
    assert.equal(res.headers['content-type'], 'application/json');
    assertOpenAiError(res.text, 'upstream_error', 'backend_unreachable');
    assert.ok(res.headers['x-request-id']);
  }
  const version = await send(`${running.url}/version`);
  assert.equal(version.status, 502);
  assertOpenAiError(version.text, 'upstream_error', 'backend_unreachable');

  // --max-fails 3 failures in a row on one worker take the backend out on every worker: /healthz says no
  // backend is up, so a load balancer in front would send traffic to a sibling instance; the proxy itself
  // still answers. Which worker got the five failures is the kernel's choice: fail more until one reached 3.
  let failedChats = 4;
  const health = await eventually(
    'the backend taken out',
    async () => {
      const answer = await send(`${running.url}/healthz`);
      if (answer.status !== 503) {
        assert.equal((await send(`${running.url}/inference${CHAT}`, { body: chatBody(), headers: JSON_HEADERS })).status, 502);
        failedChats++;
      }
      return answer;
    },
    (answer) => answer.status === 503,
  );
  const body = JSON.parse(health.text) as { status: string; backends: Array<{ url: string; state: string }> };
  assert.equal(body.status, 'no_backend_up');
  assert.deepEqual(
    body.backends.map((b) => [b.url, b.state]),
    [[backendUrl, 'ejected']],
  );
  const metrics = await metricsOf(running);
  assert.equal(sampleValue(metrics, 'output_requests_total', { url: backendUrl, endpoint: CHAT, status: '502' }), failedChats);
  assert.equal(sampleValue(metrics, 'stream_outcomes_total', { url: backendUrl, endpoint: CHAT, outcome: 'upstream_error' }), failedChats);
  assert.equal(sampleValue(metrics, 'in_flight_requests', { url: backendUrl }), 0);

  // The backend comes up on the same port: no restart, no flag, the next requests get through.
  const mock = await startMockBackend(t, port);
  const accessBefore = running.lines.length;
  const recovered: Array<{ status: number; object: unknown }> = [];
  const chat = async (): Promise<void> => {
    const res = await send(`${running.url}/inference${CHAT}`, { body: chatBody(), headers: JSON_HEADERS });
    recovered.push({ status: res.status, object: res.status === 200 ? JSON.parse(res.text).object : res.text });
  };
  for (let i = 0; i < 4; i++) await chat();
  assert.equal(mock.stats.requests, 4);
  // Both workers' pools recovered, not just one. Which worker a fresh connection reaches is the kernel's
  // choice: send more (bounded) until each worker has logged a 200.
  const workers = await eventually(
    'both workers served a 200 after recovery',
    async () => {
      const servedBy = new Set(
        running.lines
          .slice(accessBefore)
          .filter((line) => line.msg === 'access' && line.status === 200)
          .map((line) => line.worker),
      );
      if (servedBy.size < 2) await chat();
      return [...servedBy];
    },
    (served) => served.length === 2,
    { timeoutMs: 20_000 },
  );
  assert.equal(workers.length, 2);
  for (const res of recovered) assert.deepEqual(res, { status: 200, object: 'chat.completion' });
  assert.equal(mock.stats.requests, recovered.length);
});

test('backend accepts but never answers: 504 backend_timeout, counted as outcome timeout, the backend request is dropped', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const mock = await startMockBackend(t);
  const running = await cluster(t, mock.url, ['--headers-timeout', '300']);
  const hang = { ...JSON_HEADERS, 'x-mock-no-answer': '1' };
  for (const body of [chatBody(), streamBody()]) {
    const started = performance.now();
    const res = await send(`${running.url}${CHAT}`, { body, headers: hang });
    const elapsed = performance.now() - started;
    assert.equal(res.status, 504, res.text);
    assert.ok(elapsed >= 250 && elapsed < QUICK_MS + 300, `504 after ${elapsed.toFixed(0)} ms`);
    assert.equal(res.headers['content-type'], 'application/json');
    assertOpenAiError(res.text, 'upstream_timeout', 'backend_timeout');
  }
  await expectSample(running, 'stream_outcomes_total', { url: mock.url, endpoint: CHAT, outcome: 'timeout' }, 2);
  const metrics = await metricsOf(running);
  assert.equal(sampleValue(metrics, 'output_requests_total', { url: mock.url, endpoint: CHAT, status: '504' }), 2);
  // The proxy closed both backend connections: the inference server can stop the work.
  await eventually(
    'the backend saw both requests abandoned',
    () => mock.stats.clientAborts,
    (n) => n === 2,
  );
  const ok = await send(`${running.url}${CHAT}`, { body: chatBody(), headers: JSON_HEADERS });
  assert.equal(ok.status, 200, ok.text);
  await expectSample(running, 'in_flight_requests', { url: mock.url }, 0);
});

test('backend silent mid-stream: the client stream is cut without [DONE] and counted as outcome timeout', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const mock = await startMockBackend(t);
  const running = await cluster(t, mock.url, ['--body-timeout', '300']);
  const res = await call(`${running.url}${CHAT}`, {
    body: streamBody(),
    headers: { ...JSON_HEADERS, 'x-mock-silent-after': '2' },
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-type'], 'text/event-stream');
  assert.match(res.text, / tok1/);
  assert.doesNotMatch(res.text, / tok2/);
  assert.ok(!res.text.includes('[DONE]'), 'no [DONE] on a cut stream');
  assert.ok(wasCut(res), `the client sees an aborted response, not a clean end: ${res.error}`);
  assert.ok(res.ms < QUICK_MS + 300, `cut after ${res.ms.toFixed(0)} ms`);
  await expectSample(running, 'stream_outcomes_total', { url: mock.url, endpoint: CHAT, outcome: 'timeout' }, 1);
  const metrics = await metricsOf(running);
  // The status already sent is kept.
  assert.equal(sampleValue(metrics, 'output_requests_total', { url: mock.url, endpoint: CHAT, status: '200' }), 1);
  assert.equal(sampleValue(metrics, 'stream_outcomes_total', { url: mock.url, endpoint: CHAT, outcome: 'completed' }) ?? 0, 0);
  await eventually(
    'the backend connection was closed',
    () => mock.stats.clientAborts,
    (n) => n === 1,
  );
  await expectSample(running, 'in_flight_requests', { url: mock.url }, 0);
});

test('backend dies mid-stream: that client sees an aborted stream (no [DONE]), upstream_error, no retry, others unaffected', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const mock = await startMockBackend(t);
  const running = await cluster(t, mock.url);
  const slow = { ...JSON_HEADERS, 'x-mock-token-delay-ms': '30' };
  // Normal streams on both workers, in flight while the other stream's backend connection dies.
  const neighbours = Array.from({ length: 4 }, () =>
    call(`${running.url}${CHAT}`, { body: streamBody({ max_tokens: 10 }), headers: slow }),
  );
  const crashed = await call(`${running.url}${CHAT}`, {
    body: streamBody(),
    headers: { ...JSON_HEADERS, 'x-mock-crash-after': '2' },
  });
  assert.equal(crashed.status, 200);
  assert.match(crashed.text, / tok1/);
  assert.ok(!crashed.text.includes('[DONE]'));
  assert.ok(wasCut(crashed), `the client sees an aborted response, not a clean end: ${crashed.error}`);
  assert.ok(!crashed.text.includes('"error"'), 'the documented choice is an abort, not an error event');
  for (const res of await Promise.all(neighbours)) {
    assert.equal(res.status, 200);
    assert.equal(res.error, null);
    assert.match(res.text, / tok9/);
    assert.ok(res.text.endsWith('data: [DONE]\n\n'));
  }
  await expectSample(running, 'stream_outcomes_total', { url: mock.url, endpoint: CHAT, outcome: 'upstream_error' }, 1);
  let metrics = await metricsOf(running);
  assert.equal(sampleValue(metrics, 'stream_outcomes_total', { url: mock.url, endpoint: CHAT, outcome: 'completed' }), 4);
  assert.equal(sampleValue(metrics, 'upstream_retries_total', { url: mock.url }) ?? 0, 0);
  // Never a second copy of a started response: the backend saw each request once.
  assert.equal(mock.stats.requests, 5);
  // One warn line for the cut, with the request id and the failure, as for a failure answered with a 502.
  const warned = (): LogLine[] => running.lines.filter((line) => line.msg === 'backend request failed');
  const cut = await running.waitForLine((line) => line.msg === 'backend request failed');
  assert.deepEqual(
    { level: cut.level, backend: cut.backend, failure: cut.failure, id: typeof cut.request_id },
    { level: 'warn', backend: mock.url, failure: 'reset', id: 'string' },
  );
  assert.equal(warned().length, 1);

  // A non-streamed completion whose backend dies before answering is a 502.
  const dead = await send(`${running.url}${CHAT}`, { body: chatBody(), headers: { ...JSON_HEADERS, 'x-mock-crash-after': '0' } });
  assert.equal(dead.status, 502);
  assertOpenAiError(dead.text, 'upstream_error', 'backend_error');
  const failed = await running.waitForLine((line) => line.msg === 'backend request failed' && line !== cut);
  assert.deepEqual(
    { level: failed.level, backend: failed.backend, failure: failed.failure, id: failed.request_id },
    { level: 'warn', backend: mock.url, failure: 'reset', id: dead.headers['x-request-id'] },
  );
  assert.equal(warned().length, 2);

  const after = await Promise.all(
    Array.from({ length: 4 }, () => call(`${running.url}${CHAT}`, { body: streamBody(), headers: JSON_HEADERS })),
  );
  for (const res of after) {
    assert.equal(res.status, 200);
    assert.ok(res.text.endsWith('data: [DONE]\n\n'));
  }
  metrics = await metricsOf(running);
  assert.equal(sampleValue(metrics, 'stream_outcomes_total', { url: mock.url, endpoint: CHAT, outcome: 'completed' }), 8);
  assert.equal(sampleValue(metrics, 'in_flight_requests', { url: mock.url }), 0);
});

async function raceProxy(t: TestContext) {
  const backend = await startRaceBackend(t);
  const { url, registry } = await startInProcessProxy(t, { 'backend-url': backend.url });
  const dispatcher = new Agent({ connections: 1 });
  t.after(() => dispatcher.close());
  const retries = async (): Promise<number> =>
    sumSamples(parsePromText(await registry.metrics()), 'upstream_retries_total', { url: backend.url });
  const first = await send(`${url}/version`, { dispatcher });
  assert.equal(first.status, 200);
  assert.deepEqual(JSON.parse(first.text), { connection: 1, index: 1, method: 'GET', path: '/version', bodyLength: 0 });
  return { backend, url, registry, dispatcher, retries };
}

test('keep-alive race: a GET on a reused connection the backend closed is retried once on a fresh one', async (t) => {
  const { backend, url, registry, dispatcher, retries } = await raceProxy(t);
  const second = await send(`${url}/version`, { dispatcher });
  assert.equal(second.status, 200, second.text);
  assert.deepEqual(
    backend.requests.map((seen) => [seen.connection, seen.index]),
    [
      [1, 1],
      [1, 2],
      [2, 1],
    ],
  );
  assert.equal(JSON.parse(second.text).connection, 2);
  assert.equal(backend.connections, 2);
  assert.equal(await retries(), 1);
  const metrics = parsePromText(await registry.metrics());
  assert.equal(sampleValue(metrics, 'output_requests_total', { url: backend.url, endpoint: '/version', status: '200' }), 2);
  assert.equal(sampleValue(metrics, 'output_requests_total', { url: backend.url, endpoint: '/version', status: '502' }), undefined);
  assert.equal(sampleValue(metrics, 'in_flight_requests', { url: backend.url }), 0);
});

test('keep-alive race: a completion POST (its body read by the proxy) is retried byte for byte', async (t) => {
  const { backend, url, registry, dispatcher, retries } = await raceProxy(t);
  const body = chatBody({ messages: [{ role: 'user', content: 'retry me' }] });
  const res = await send(`${url}${CHAT}`, { body, headers: JSON_HEADERS, dispatcher });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(JSON.parse(res.text), { connection: 2, index: 1, method: 'POST', path: CHAT, bodyLength: Buffer.byteLength(body) });
  const attempts = backend.requests.filter((seen) => seen.path === CHAT);
  assert.deepEqual(
    attempts.map((seen) => [seen.connection, seen.index]),
    [
      [1, 2],
      [2, 1],
    ],
  );
  const digest = createHash('sha256').update(body).digest('hex');
  assert.ok(attempts.every((seen) => seen.bodySha256 === digest));
  assert.equal(backend.connections, 2);
  assert.equal(await retries(), 1);
  const metrics = parsePromText(await registry.metrics());
  assert.equal(sampleValue(metrics, 'stream_outcomes_total', { url: backend.url, endpoint: CHAT, outcome: 'completed' }), 1);
  assert.equal(sampleValue(metrics, 'in_flight_requests', { url: backend.url }), 0);
});

test('keep-alive race: no retry for a streamed upload or a started response, and never more than one', async (t) => {
  const { backend, url, registry, dispatcher, retries } = await raceProxy(t);
  // A streamed (chunked) body is gone once sent: not retried, 502. (An audio upload: routes whose JSON body
  // names the model, embeddings among them, are read whole, and so are replayable.)
  const streamed = await request(`${url}/v1/audio/transcriptions`, {
    method: 'POST',
    body: Readable.from([Buffer.from('{"input":'), Buffer.from('"hello"}')]),
    headers: JSON_HEADERS,
    dispatcher,
  });
  const streamedText = await streamed.body.text();
  assert.equal(streamed.statusCode, 502, streamedText);
  assertOpenAiError(streamedText, 'upstream_error', 'backend_error');
  assert.deepEqual(
    backend.requests
      .filter((seen) => seen.path === '/v1/audio/transcriptions')
      .map((seen) => [seen.connection, seen.index, seen.bodyLength]),
    [[1, 2, 17]],
  );
  assert.equal(await retries(), 0);

  // At most once: a backend that drops every attempt sees exactly two.
  let before = backend.requests.length;
  const dropped = await send(`${url}/version`, { headers: { 'x-close-always': '1' }, dispatcher });
  assert.equal(dropped.status, 502);
  assertOpenAiError(dropped.text, 'upstream_error', 'backend_error');
  assert.equal(backend.requests.length - before, 2);
  assert.equal(await retries(), 1);

  // Headers and one event, then the connection dies: the response has started, it is never sent twice.
  before = backend.requests.length;
  const partial = await call(`${url}${CHAT}`, { body: streamBody(), headers: { ...JSON_HEADERS, 'x-partial': '1' } });
  assert.equal(partial.status, 200);
  assert.equal(partial.text, 'data: {"i":0}\n\n');
  assert.ok(wasCut(partial), `the client sees the abort: ${partial.error}`);
  assert.equal(backend.requests.length - before, 1);
  assert.equal(await retries(), 1);

  const metrics = parsePromText(await registry.metrics());
  assert.equal(sampleValue(metrics, 'output_requests_total', { url: backend.url, endpoint: '/v1/audio/transcriptions', status: '502' }), 1);
  assert.equal(sampleValue(metrics, 'output_requests_total', { url: backend.url, endpoint: '/version', status: '502' }), 1);
  assert.equal(sampleValue(metrics, 'stream_outcomes_total', { url: backend.url, endpoint: CHAT, outcome: 'upstream_error' }), 1);
  assert.equal(sampleValue(metrics, 'in_flight_requests', { url: backend.url }), 0);
});

test('keep-alive race: the retry goes to a fresh connection, not to another idle one the backend also closed', async (t) => {
  const backend = await startRaceBackend(t);
  const { url, registry } = await startInProcessProxy(t, { 'backend-url': backend.url });
  const retries = async (): Promise<number> =>
    sumSamples(parsePromText(await registry.metrics()), 'upstream_retries_total', { url: backend.url });
  // Two requests at once leave two idle pooled connections, each used once.
  const warm = await Promise.all([1, 2].map(() => send(`${url}/version`, { headers: { 'x-delay-ms': '200' } })));
  assert.deepEqual(warm.map((res) => JSON.parse(res.text).connection).sort(), [1, 2], 'precondition: two pooled connections');
  // The backend has (in effect) closed both: whichever is reused drops the request.
  const res = await send(`${url}/version`);
  const attempts = backend.requests.slice(2).map((seen) => [seen.connection, seen.index]);
  assert.equal(res.status, 200, `${res.text}; attempts (connection, index): ${JSON.stringify(attempts)}`);
  assert.equal(JSON.parse(res.text).connection, 3);
  assert.equal(await retries(), 1);
});

/** Sends a request head announcing `length` body bytes and `sent` of them, then leaves the socket open. */
async function startUpload(port: number, path: string, length: number, sent: number): Promise<RawClient> {
  const client = await openRaw(port);
  client.socket.write(
    `POST ${path} HTTP/1.1\r\nHost: proxy\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n${'x'.repeat(sent)}`,
  );
  return client;
}

test('client aborts halfway through a completion body: 499, the backend is never contacted, nothing stays in flight', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const mock = await startMockBackend(t);
  const running = await cluster(t, mock.url);
  const client = await startUpload(running.port, CHAT, 10_000, 5_000);
  // The proxy is reading the body: the request is in flight, under url="none" until a backend is chosen.
  await expectSample(running, 'in_flight_requests', { url: 'none' }, 1);
  client.socket.destroy();
  await expectSample(running, 'output_requests_total', { url: 'none', endpoint: CHAT, status: '499' }, 1);
  await expectSample(running, 'in_flight_requests', { url: 'none' }, 0);
  const metrics = await metricsOf(running);
  assert.equal(sampleValue(metrics, 'input_requests_total', { url: 'none', endpoint: CHAT }), 1);
  assert.equal(sampleValue(metrics, 'input_requests_total', { url: mock.url, endpoint: CHAT }), 0, 'no backend was chosen');
  assert.equal(mock.stats.requests, 0);
  assert.equal(mock.stats.connections, 0);
  const ok = await send(`${running.url}${CHAT}`, { body: chatBody(), headers: JSON_HEADERS });
  assert.equal(ok.status, 200);
});

test('client aborts halfway through a streamed upload: the backend sees its request aborted, 499, nothing stays in flight', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const mock = await startMockBackend(t);
  const running = await cluster(t, mock.url);
  // An audio upload streams through (a route whose JSON body names the model would be read whole first).
  const client = await startUpload(running.port, '/v1/audio/transcriptions', 100_000, 1_000);
  // The body streams through: the backend has the request before the upload is over.
  await eventually(
    'the backend saw the request start',
    () => mock.stats.requests,
    (n) => n === 1,
  );
  client.socket.destroy();
  await eventually(
    'the backend saw the abort',
    () => mock.stats.clientAborts,
    (n) => n === 1,
  );
  await expectSample(running, 'output_requests_total', { url: mock.url, endpoint: '/v1/audio/transcriptions', status: '499' }, 1);
  await expectSample(running, 'in_flight_requests', { url: mock.url }, 0);
  assert.equal(mock.stats.completed, 0);
  const ok = await send(`${running.url}/v1/embeddings`, { body: '{"model":"mock-model","input":"hi"}', headers: JSON_HEADERS });
  assert.equal(ok.status, 200, ok.text);
});

test('client uploads slower than the backend allows: the backend gives up, the client gets an answer, nothing stays in flight', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  // A backend that wants the whole request within 400 ms, as Node and uvicorn servers can be set to.
  let started = 0;
  const backend = createServer({ requestTimeout: 400, headersTimeout: 400, connectionsCheckingInterval: 50 }, (req, res) => {
    started++;
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-length': 2 }).end('ok'));
  });
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    backend.closeAllConnections();
    await new Promise<void>((resolve) => backend.close(() => resolve()));
  });
  const backendUrl = `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;
  const running = await cluster(t, backendUrl);

  const client = await startUpload(running.port, '/v1/audio/transcriptions', 100_000, 100);
  const begun = performance.now();
  // 100 bytes every 100 ms: 100 s for the whole body, far beyond the backend's patience.
  while (statusOf(client.received) === 0 && !client.closed && performance.now() - begun < 8_000) {
    client.socket.write('x'.repeat(100));
    await delay(100);
  }
  const status = statusOf(client.received);
  const elapsed = performance.now() - begun;
  assert.ok([408, 502].includes(status), `status ${status}, reply ${JSON.stringify(client.received.slice(0, 200))}`);
  assert.ok(elapsed < 5_000, `answered after ${elapsed.toFixed(0)} ms`);
  assert.equal(started, 1);
  client.socket.destroy();
  await eventually(
    'the request ended once and nothing is in flight',
    async () => {
      const metrics = await metricsOf(running);
      let ended = 0;
      for (const code of ['408', '499', '502'])
        ended +=
          sampleValue(metrics, 'output_requests_total', { url: backendUrl, endpoint: '/v1/audio/transcriptions', status: code }) ?? 0;
      return { ended, inFlight: sampleValue(metrics, 'in_flight_requests', { url: backendUrl }) };
    },
    (value) => value.ended === 1 && value.inFlight === 0,
  );
});
