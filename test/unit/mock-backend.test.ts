import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import type { TestContext } from 'node:test';
import { test } from 'node:test';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import type { request } from 'undici';
import type { MockBackendOptions } from '../../src/mock-backend/create-mock-backend.js';
import { MOCK_SWITCH_HEADERS } from '../../src/mock-backend/mock-routes.js';
import { eventually } from '../../support/wait.js';
import { type MockHarness, startMock } from '../helpers/mock-harness.js';

// Every test is bounded: node:test fails it after this long instead of hanging the run.
const TEST = { timeout: 10_000 };
const WAIT_LIMIT_MS = 2_000;
const CHAT = '/v1/chat/completions';

/** The models the requests below name; a backend answers only those it serves. */
const MODELS = ['m1', 'm2', 'm3', 'e'];

function start(t: TestContext, options: MockBackendOptions = {}): Promise<MockHarness> {
  return startMock(t, { models: MODELS, ...options });
}

function chatBody(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: 'm1', messages: [{ role: 'user', content: 'one two' }], max_tokens: 3, ...extra };
}

/** Splits an SSE body into events, checking it ends with a complete one. */
function sseEvents(text: string, end = '\n\n'): string[] {
  const parts = text.split(end);
  assert.equal(parts.pop(), '', 'the stream ends with a complete event');
  return parts;
}

function sseData(event: string): Record<string, unknown> {
  assert.ok(event.startsWith('data: '), `not a data event: ${event}`);
  return JSON.parse(event.slice('data: '.length)) as Record<string, unknown>;
}

/** ids and timestamps differ between two requests; everything else must not. */
function normalize(text: string): string {
  return text.replace(/"id":"[^"]+"/g, '"id":"X"').replace(/"created":\d+/g, '"created":0');
}

/** The backend is in this process: its counters can be polled often at no cost. */
const WAIT = { timeoutMs: WAIT_LIMIT_MS, everyMs: 5 };

test('non-streamed chat completion: OpenAI body with exact usage', TEST, async (t) => {
  const { backend, post } = await start(t);
  const content = [
    { type: 'text', text: 'hello  there\nworld' },
    { type: 'image_url', image_url: { url: 'x' } },
  ];
  const messages = [
    { role: 'system', content: 'be brief' },
    { role: 'user', content },
  ];
  const res = await post(CHAT, { model: 'm1', messages, max_tokens: 3 });
  const text = await res.body.text();
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'application/json');
  assert.equal(res.headers['content-length'], String(Buffer.byteLength(text)));
  const body = JSON.parse(text);
  assert.match(body.id, /^chatcmpl-[0-9a-f]{32}$/);
  assert.equal(typeof body.created, 'number');
  assert.deepEqual(
    { ...body, id: 'X', created: 0 },
    {
      id: 'X',
      object: 'chat.completion',
      created: 0,
      model: 'm1',
      choices: [{ index: 0, message: { role: 'assistant', content: ' tok0 tok1 tok2' }, logprobs: null, finish_reason: 'length' }],
      usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 },
    },
  );
  assert.equal(backend.stats.promptTokens, 5);
  assert.equal(backend.stats.completionTokens, 3);
});

test('non-streamed text completion with n=2 and the default max tokens', TEST, async (t) => {
  const { post } = await start(t, { defaultMaxTokens: 2 });
  const res = await post('/v1/completions', { model: 'm2', prompt: ['a b', 'c'], n: 2 });
  const body = (await res.body.json()) as Record<string, unknown>;
  assert.equal(body.object, 'text_completion');
  assert.match(String(body.id), /^cmpl-/);
  assert.deepEqual(body.choices, [
    { index: 0, text: ' tok0 tok1', logprobs: null, finish_reason: 'length' },
    { index: 1, text: ' tok0 tok1', logprobs: null, finish_reason: 'length' },
  ]);
  assert.deepEqual(body.usage, { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 });
});

test('streamed chat: role chunk, one chunk per token, finish chunk, [DONE]; no usage unless asked', TEST, async (t) => {
  const { backend, post } = await start(t);
  const res = await post(CHAT, chatBody({ stream: true }));
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'text/event-stream');
  assert.equal(res.headers['cache-control'], 'no-cache');
  const events = sseEvents(await res.body.text());
  assert.equal(events.at(-1), 'data: [DONE]');
  const chunks = events.slice(0, -1).map(sseData);
  const { id, created } = chunks[0] as { id: string; created: number };
  const base = { id, object: 'chat.completion.chunk', created, model: 'm1' };
  const choice = (delta: object, finish: string | null) => [{ index: 0, delta, logprobs: null, finish_reason: finish }];
  assert.deepEqual(chunks, [
    { ...base, choices: choice({ role: 'assistant', content: '' }, null) },
    ...[0, 1, 2].map((step) => ({ ...base, choices: choice({ content: ` tok${step}` }, null) })),
    { ...base, choices: choice({}, 'length') },
  ]);
  // Field order matters to byte-comparing clients: pin it once.
  assert.equal(
    events[1],
    `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":"m1","choices":[{"index":0,"delta":{"content":" tok0"},"logprobs":null,"finish_reason":null}]}`,
  );
  assert.equal(backend.stats.promptTokens, 2);
  assert.equal(backend.stats.completionTokens, 3, 'counted even though usage was not sent');
});

test('streamed chat with include_usage and n=2: usage:null everywhere, then the usage-only chunk', TEST, async (t) => {
  const { backend, post } = await start(t);
  const res = await post(CHAT, chatBody({ stream: true, n: 2, max_tokens: 2, stream_options: { include_usage: true } }));
  const events = sseEvents(await res.body.text());
  assert.equal(events.at(-1), 'data: [DONE]');
  const chunks = events.slice(0, -1).map(sseData);
  const usage = chunks.pop();
  assert.deepEqual(usage?.choices, []);
  assert.deepEqual(usage?.usage, { prompt_tokens: 2, completion_tokens: 4, total_tokens: 6 });
  for (const chunk of chunks) assert.equal(chunk.usage, null);
  const summary = chunks.map((chunk) => {
    const [c] = chunk.choices as Array<{ index: number; delta: { role?: string; content?: string }; finish_reason: string | null }>;
    return `${c?.index}:${c?.delta.role ?? c?.finish_reason ?? c?.delta.content}`;
  });
  assert.deepEqual(summary, ['0:assistant', '1:assistant', '0: tok0', '1: tok0', '0: tok1', '1: tok1', '0:length', '1:length']);
  assert.equal(backend.stats.completionTokens, 4);
});

test('streamed text completion: text chunks then the finish chunk', TEST, async (t) => {
  const { post } = await start(t);
  const res = await post('/v1/completions', { model: 'm3', prompt: 'x', max_tokens: 2, stream: true });
  const events = sseEvents(await res.body.text());
  const chunks = events.slice(0, -1).map(sseData);
  assert.deepEqual(
    chunks.map((chunk) => [chunk.object, chunk.choices]),
    [
      ['text_completion', [{ index: 0, text: ' tok0', logprobs: null, finish_reason: null }]],
      ['text_completion', [{ index: 0, text: ' tok1', logprobs: null, finish_reason: null }]],
      ['text_completion', [{ index: 0, text: '', logprobs: null, finish_reason: 'length' }]],
    ],
  );
});

test('stats: keep-alive reuse, request and completion counts, last request', TEST, async (t) => {
  const { backend, post, get } = await start(t);
  // undici puts a connection back in its pool a turn after the body ends; without the pause it opens another.
  await (await get('/health')).body.text();
  await nextTurn();
  await (await post(CHAT, chatBody())).body.text();
  await nextTurn();
  await (await post(CHAT, chatBody({ stream: true }), { 'x-extra': 'yes' })).body.text();
  const { stats } = backend;
  assert.deepEqual([stats.connections, stats.requests, stats.completed, stats.clientAborts], [1, 3, 3, 0]);
  assert.equal(stats.lastRequest?.method, 'POST');
  assert.equal(stats.lastRequest?.url, CHAT);
  assert.equal(stats.lastRequest?.headers['x-extra'], 'yes');
  assert.deepEqual(JSON.parse(String(stats.lastRequest?.body)), chatBody({ stream: true }));
});

test('timing: first token after the ttft, then one step per token delay', TEST, async (t) => {
  const { post } = await start(t, { ttftMs: 250, tokenDelayMs: 40 });
  const startedMs = performance.now();
  const res = await post(CHAT, chatBody({ stream: true }));
  const headersMs = performance.now() - startedMs;
  const seenMs: number[] = [];
  let text = '';
  for await (const chunk of res.body) {
    text += chunk;
    while (text.includes(` tok${seenMs.length}"`)) seenMs.push(performance.now() - startedMs);
  }
  assert.ok(headersMs < 200, `headers are sent before the first token (${headersMs} ms)`);
  assert.equal(seenMs.length, 3);
  assert.ok((seenMs[0] ?? 0) >= 245, `first token at ${seenMs[0]} ms`);
  assert.ok((seenMs[2] ?? 0) - (seenMs[0] ?? 0) >= 75, `tokens spaced: ${seenMs.join(', ')}`);
});

test('keep-alive comments come before the first event', TEST, async (t) => {
  const { post } = await start(t);
  const res = await post(CHAT, chatBody({ stream: true }), { 'x-mock-keepalive-comments': '3', 'x-mock-ttft-ms': '60' });
  const events = sseEvents(await res.body.text());
  assert.deepEqual(events.slice(0, 3), [': keep-alive', ': keep-alive', ': keep-alive']);
  assert.deepEqual((sseData(events[3] ?? '').choices as Array<{ delta: unknown }>)[0]?.delta, { role: 'assistant', content: '' });
  assert.equal(events.length, 3 + 5 + 1);
});

test('in-band error after k tokens: error event, [DONE], clean end', TEST, async (t) => {
  const { backend, post } = await start(t);
  const res = await post(CHAT, chatBody({ stream: true, max_tokens: 5 }), { 'x-mock-inband-error-after': '2' });
  const events = sseEvents(await res.body.text());
  assert.equal(events.length, 5);
  assert.match(events[2] ?? '', / tok1/);
  assert.equal(events[3], 'data: {"error":{"message":"simulated failure","type":"server_error","code":500}}');
  assert.equal(events[4], 'data: [DONE]');
  assert.equal(backend.stats.completed, 1);
});

test('crash-after: the stream is cut after k tokens; a non-stream request gets no answer', TEST, async (t) => {
  const { backend, post } = await start(t);
  const res = await post(CHAT, chatBody({ stream: true, max_tokens: 5 }), { 'x-mock-crash-after': '2' });
  let received = '';
  await assert.rejects(async () => {
    for await (const chunk of res.body) received += chunk;
  });
  assert.match(received, / tok1"/);
  assert.doesNotMatch(received, / tok2"|\[DONE\]/);
  await assert.rejects(post(CHAT, chatBody(), { 'x-mock-crash-after': '0' }));
  assert.deepEqual([backend.stats.clientAborts, backend.stats.completed], [0, 0]);
});

test('split-bytes: one byte per chunk on the wire, same bytes once joined', TEST, async (t) => {
  const { backend, post } = await start(t);
  const body = chatBody({ stream: true, n: 2, stream_options: { include_usage: true } });
  const whole = await (await post(CHAT, body)).body.text();
  const split = await (await post(CHAT, body, { 'x-mock-split-bytes': '1' })).body.text();
  assert.equal(normalize(split), normalize(whole));

  const json = JSON.stringify(body);
  const socket = connect(backend.port, '127.0.0.1');
  t.after(() => socket.destroy());
  socket.setEncoding('latin1');
  let wire = '';
  socket.on('data', (chunk: string) => {
    wire += chunk;
  });
  socket.write(
    `POST ${CHAT} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${json.length}\r\n` +
      `x-mock-split-bytes: 1\r\nconnection: close\r\n\r\n${json}`,
  );
  await once(socket, 'end');
  assert.ok(wire.includes('\r\n\r\n1\r\nd\r\n1\r\na\r\n1\r\nt\r\n1\r\na\r\n1\r\n:\r\n'), 'each byte is its own chunk');
});

test('crlf line endings', TEST, async (t) => {
  const { post } = await start(t);
  const lf = await (await post(CHAT, chatBody({ stream: true }))).body.text();
  const crlf = await (await post(CHAT, chatBody({ stream: true }), { 'x-mock-line-ending': 'crlf' })).body.text();
  assert.equal(sseEvents(crlf, '\r\n\r\n').length, 6);
  assert.doesNotMatch(crlf.replaceAll('\r\n', ''), /\n/);
  assert.equal(normalize(crlf.replaceAll('\r\n', '\n')), normalize(lf));
});

test('silent-after: stops sending but keeps the connection open', TEST, async (t) => {
  const { backend, post } = await start(t);
  const res = await post(CHAT, chatBody({ stream: true }), { 'x-mock-silent-after': '1' });
  const chunks = res.body[Symbol.asyncIterator]();
  let received = '';
  while (!received.includes(' tok0')) received += (await chunks.next()).value;
  const next = chunks.next().then(
    (result) => (result.done ? 'end' : 'data'),
    () => 'closed',
  );
  // The claim is that nothing comes: a bounded quiet spell is the only way to see it.
  assert.equal(await Promise.race([next, sleep(150, 'quiet')]), 'quiet');
  assert.equal(backend.stats.completed, 0);
  await backend.close();
  assert.equal(await next, 'closed');
});

test('close() resolves promptly with a slow stream and an unanswered request in flight', TEST, async (t) => {
  const { backend, post } = await start(t, { tokenDelayMs: 1_000 });
  const res = await post(CHAT, chatBody({ stream: true, max_tokens: 1_000 }));
  const stream = res.body.text().then(
    () => 'end',
    () => 'error',
  );
  const unanswered = post(CHAT, chatBody(), { 'x-mock-no-answer': '1' }).then(
    () => 'answered',
    () => 'error',
  );
  await eventually('the no-answer request', () => backend.stats.lastRequest?.headers['x-mock-no-answer'] === '1', Boolean, WAIT);
  // Still unanswered a moment after it arrived (no answer is the behaviour under test).
  assert.equal(await Promise.race([unanswered, sleep(100, 'waiting')]), 'waiting');
  const startedMs = performance.now();
  await backend.close();
  assert.ok(performance.now() - startedMs < 500, 'close() does not wait for the streams');
  assert.deepEqual(await Promise.all([stream, unanswered]), ['error', 'error']);
  assert.equal(backend.stats.clientAborts, 0, 'closing is not a client abort');
});

test('a client that goes away mid-stream is counted as a client abort', TEST, async (t) => {
  const { backend, post } = await start(t, { tokenDelayMs: 20 });
  const res = await post(CHAT, chatBody({ stream: true, max_tokens: 1_000 }));
  await res.body[Symbol.asyncIterator]().next();
  res.body.destroy();
  await eventually(
    'the abort to be counted',
    () => backend.stats.clientAborts,
    (n) => n === 1,
    WAIT,
  );
  assert.equal(backend.stats.completed, 0);
});

test('errors: 400 on bad JSON, missing model or a bad switch; 404 elsewhere; x-mock-status', TEST, async (t) => {
  const { post, get } = await start(t);
  const cases: Array<[Promise<Awaited<ReturnType<typeof request>>>, number, string]> = [
    [post(CHAT, '{"model":'), 400, 'invalid_request_error'],
    [post('/v1/completions', { prompt: 'x' }), 400, 'invalid_request_error'],
    [post(CHAT, chatBody({ max_tokens: 0 })), 400, 'invalid_request_error'],
    [post(CHAT, chatBody(), { 'x-mock-ttft-ms': 'soon' }), 400, 'invalid_request_error'],
    [get('/nope'), 404, 'invalid_request_error'],
    [get(CHAT), 404, 'invalid_request_error'],
    [post(CHAT, chatBody(), { 'x-mock-status': '429' }), 429, 'invalid_request_error'],
    [post(CHAT, chatBody(), { 'x-mock-status': '503' }), 503, 'server_error'],
  ];
  for (const [pending, status, type] of cases) {
    const res = await pending;
    const body = (await res.body.json()) as { error: { message: unknown; type: unknown; code: unknown } };
    assert.equal(res.statusCode, status);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.equal(typeof body.error.message, 'string');
    assert.deepEqual([body.error.type, body.error.code], [type, status]);
  }
});

test('models, health and embeddings', TEST, async (t) => {
  const { post, get } = await startMock(t, { model: 'served-model', anyModel: true });
  const models = (await (await get('/v1/models')).body.json()) as { object: string; data: Array<Record<string, unknown>> };
  assert.equal(models.object, 'list');
  assert.deepEqual(
    models.data.map((m) => [m.id, m.object, m.owned_by]),
    [['served-model', 'model', 'mock']],
  );
  const health = await get('/health');
  assert.deepEqual([health.statusCode, await health.body.text()], [200, '']);
  const embedded = await post('/v1/embeddings', { model: 'e', input: ['a b', 'c'] });
  const body = (await embedded.body.json()) as { data: Array<{ index: number; embedding: number[] }>; usage: unknown };
  assert.deepEqual(body.usage, { prompt_tokens: 3, total_tokens: 3 });
  assert.deepEqual(
    body.data.map((d) => d.index),
    [0, 1],
  );
  const again = (await (await post('/v1/embeddings', { model: 'e', input: 'a b' })).body.json()) as typeof body;
  assert.deepEqual(again.data[0]?.embedding, body.data[0]?.embedding, 'deterministic');
});

test('the switch header list names every documented switch', () => {
  assert.equal(new Set(MOCK_SWITCH_HEADERS).size, 11);
  for (const name of MOCK_SWITCH_HEADERS) assert.match(name, /^x-mock-[a-z-]+$/);
});
