import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { setTimeout as delay, setImmediate as tick } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { parsePromText, sampleValue } from '../../src/metrics/prom-text.js';
import { eventually } from '../../support/wait.js';
import { deterministicBytes, startEchoBackend } from '../helpers/echo-backend.js';
import { openStream, send } from '../helpers/http.js';
import { startInProcessProxy } from '../helpers/in-process-proxy.js';
import { rawJsonBody, rawRequest } from '../helpers/raw-http.js';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

test('method, path, query and headers reach the backend verbatim; forwarding headers are added', async (t) => {
  const backend = await startEchoBackend(t);
  const { url } = await startInProcessProxy(t, { 'backend-url': backend.url });
  const res = await send(`${url}/inference/echo/a%20b/..%2Fc?x=1&y=%2F&x=2`, {
    method: 'PUT',
    headers: { 'X-Custom': 'one', 'x-forwarded-for': '203.0.113.9', 'content-type': 'text/plain' },
    body: 'payload',
  });
  assert.equal(res.status, 200);
  const seen = JSON.parse(res.text);
  assert.equal(seen.method, 'PUT');
  assert.equal(seen.url, '/echo/a%20b/..%2Fc?x=1&y=%2F&x=2');
  assert.equal(seen.headers['x-custom'], 'one');
  assert.equal(seen.headers.host, `127.0.0.1:${backend.port}`);
  assert.equal(seen.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
  assert.equal(seen.headers['x-forwarded-proto'], 'http');
  assert.equal(seen.headers['x-forwarded-host'], new URL(url).host);
  assert.match(seen.headers['x-request-id'], /^[0-9a-f-]{36}$/);
  assert.equal(res.headers['x-request-id'], seen.headers['x-request-id']);
  assert.equal(Buffer.from(seen.bodyBase64, 'base64').toString(), 'payload');
});

test("a client's X-Request-Id is kept end to end", async (t) => {
  const backend = await startEchoBackend(t);
  const { url } = await startInProcessProxy(t, { 'backend-url': backend.url });
  const res = await send(`${url}/echo`, { headers: { 'x-request-id': 'req-42.abc' } });
  assert.equal(JSON.parse(res.text).headers['x-request-id'], 'req-42.abc');
  assert.equal(res.headers['x-request-id'], 'req-42.abc');
});

test('hop-by-hop headers are removed in both directions', async (t) => {
  const backend = await startEchoBackend(t);
  const { url } = await startInProcessProxy(t, { 'backend-url': backend.url });
  // A raw request: HTTP clients rewrite their own Connection header.
  const reply = await rawRequest(
    Number(new URL(url).port),
    'GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close, X-Secret\r\nX-Secret: leak\r\nKeep-Alive: timeout=1\r\nTE: trailers\r\nProxy-Authorization: Basic x\r\nX-Ok: 1\r\n\r\n',
  );
  const seen = rawJsonBody(reply) as { headers: Record<string, string> };
  assert.equal(seen.headers['x-secret'], undefined);
  assert.equal(seen.headers['keep-alive'], undefined);
  // The client's Connection: close applies to its own connection, not to the pooled one upstream.
  assert.equal(seen.headers.connection, 'keep-alive');
  assert.equal(seen.headers.te, undefined);
  assert.equal(seen.headers['proxy-authorization'], undefined);
  assert.equal(seen.headers['x-ok'], '1');
  const hop = await send(`${url}/hop`);
  assert.equal(hop.text, 'hop');
  assert.equal(hop.headers['x-drop-me'], undefined);
  assert.equal(hop.headers.upgrade, undefined);
  assert.notEqual(hop.headers['keep-alive'], 'timeout=5');
  assert.equal(hop.headers['x-kept'], 'yes');
  assert.deepEqual(hop.headers['set-cookie'], ['a=1', 'b=2']);
});

test('binary bodies, chunked uploads and large responses pass through byte for byte', async (t) => {
  const backend = await startEchoBackend(t);
  const { url } = await startInProcessProxy(t, { 'backend-url': backend.url });
  const upload = randomBytes(1024 * 1024 + 13);
  const echoed = JSON.parse(
    (await send(`${url}/echo/binary`, { method: 'POST', body: upload, headers: { 'content-type': 'application/octet-stream' } })).text,
  );
  assert.equal(echoed.bodyLength, upload.length);
  assert.equal(echoed.sha256, sha256(upload));

  const dispatcher = new Agent();
  t.after(() => dispatcher.close());
  const parts = [randomBytes(70_000), randomBytes(1), randomBytes(300_000)];
  const chunked = await request(`${url}/echo/chunked`, { method: 'POST', body: Readable.from(parts), dispatcher });
  const chunkedSeen = (await chunked.body.json()) as { bodyLength: number; sha256: string; headers: Record<string, string> };
  assert.equal(chunkedSeen.bodyLength, 370_001);
  assert.equal(chunkedSeen.sha256, sha256(Buffer.concat(parts)));
  assert.equal(chunkedSeen.headers['transfer-encoding'], 'chunked');

  const size = 8 * 1024 * 1024 + 5;
  const big = await send(`${url}/binary?size=${size}`);
  assert.equal(big.headers['content-length'], String(size));
  assert.equal(sha256(big.body), sha256(deterministicBytes(size)));
});

test('a completion body that is not JSON is still forwarded unchanged', async (t) => {
  const backend = await startEchoBackend(t);
  const { url } = await startInProcessProxy(t, { 'backend-url': backend.url });
  const res = await send(`${url}/inference/v1/chat/completions`, { body: '{"model": "m", oops' });
  const seen = JSON.parse(res.text);
  assert.equal(seen.url, '/v1/chat/completions');
  assert.equal(Buffer.from(seen.bodyBase64, 'base64').toString(), '{"model": "m", oops');
});

test('SSE events spaced 50 ms apart arrive spaced, one by one, not batched', async (t) => {
  const backend = await startEchoBackend(t);
  const { url } = await startInProcessProxy(t, { 'backend-url': backend.url });
  const dispatcher = new Agent();
  t.after(() => dispatcher.close());
  const res = await request(`${url}/sse?n=8&gap=50`, { dispatcher });
  assert.equal(res.headers['content-type'], 'text/event-stream');
  const arrivals: Array<{ at: number; text: string }> = [];
  for await (const chunk of res.body) arrivals.push({ at: performance.now(), text: chunk.toString() });
  const events = arrivals.flatMap((a) =>
    a.text
      .split('\n\n')
      .filter(Boolean)
      .map(() => a.at),
  );
  assert.equal(events.length, 9);
  // Every event came in its own read: nothing was held back and sent in a batch.
  assert.ok(arrivals.length >= 8, `events arrived in ${arrivals.length} reads`);
  const gaps = events.slice(1).map((at, i) => at - (events[i] as number));
  const spaced = gaps.filter((gap) => gap >= 20).length;
  assert.ok(spaced >= 6, `gaps ${gaps.map((g) => g.toFixed(0)).join(',')}`);
});

test('a slow client pauses the read from the backend instead of growing memory', async (t) => {
  const backend = await startEchoBackend(t);
  const { url } = await startInProcessProxy(t, { 'backend-url': backend.url });
  const dispatcher = new Agent();
  t.after(() => dispatcher.close());
  const controller = new AbortController();
  const res = await request(`${url}/flood`, { dispatcher, signal: controller.signal });
  res.body.on('error', () => undefined);
  // The client reads nothing. Without backpressure the backend would write gigabytes; with it, the buffers
  // on the way fill and the backend's writes stop: wait until two reads 100 ms apart agree.
  let previous = -1;
  const stalledAt = await eventually(
    'the backend stops writing',
    () => backend.floodWritten,
    (written) => {
      const steady = written === previous;
      previous = written;
      return steady;
    },
    { everyMs: 100 },
  );
  assert.ok(stalledAt < 64 * 1024 * 1024, `the backend wrote ${stalledAt} bytes while the client read nothing`);
  // The claim is that nothing more is written while the client still reads nothing: only a quiet spell shows it.
  await delay(300);
  assert.equal(backend.floodWritten, stalledAt, 'the backend is stalled');
  // Reading resumes the flow; leaving early (break) aborts the backend request.
  const aborted = backend.nextAbort();
  let read = 0;
  for await (const chunk of res.body) {
    read += chunk.length;
    if (read > stalledAt + 8 * 1024 * 1024) break;
  }
  assert.ok(backend.floodWritten > stalledAt);
  controller.abort();
  await aborted;
});

test('a client that leaves mid-stream aborts the backend request at once', async (t) => {
  const backend = await startEchoBackend(t);
  const { url, registry } = await startInProcessProxy(t, { 'backend-url': backend.url });
  const stream = await openStream(`${url}/hang-stream`, {});
  assert.match(stream.first, /"i":0/);
  const aborted = backend.nextAbort();
  stream.leave();
  await aborted;
  // The exchange records its 499 as its upstream request fails, just after the abort left this process.
  const counted = await eventually(
    'the 499 recorded',
    async () =>
      sampleValue(parsePromText(await registry.metrics()), 'output_requests_total', { url: backend.url, endpoint: 'other', status: '499' }),
    (value) => value !== undefined,
  );
  assert.equal(counted, 1);
});

test('a client that leaves before the backend answers aborts the backend request', async (t) => {
  const backend = await startEchoBackend(t);
  const { url } = await startInProcessProxy(t, { 'backend-url': backend.url });
  const dispatcher = new Agent();
  t.after(() => dispatcher.close());
  const aborted = backend.nextAbort();
  const pending = request(`${url}/hang`, { dispatcher, signal: AbortSignal.timeout(150) });
  await assert.rejects(pending);
  await aborted;
  assert.equal(backend.aborted, 1);
});

test('an unreachable backend gives a quick 502 with an OpenAI-style error body', async (t) => {
  const { url, registry } = await startInProcessProxy(t, { 'backend-url': 'http://127.0.0.1:1' });
  const started = performance.now();
  const res = await send(`${url}/v1/chat/completions`, { body: '{"model":"m"}' });
  assert.ok(performance.now() - started < 5_000);
  assert.equal(res.status, 502);
  assert.equal(res.headers['content-type'], 'application/json');
  const body = JSON.parse(res.text);
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'type']);
  assert.equal(body.error.type, 'upstream_error');
  assert.equal(body.error.code, 'backend_unreachable');
  assert.equal(
    sampleValue(parsePromText(await registry.metrics()), 'output_requests_total', {
      url: 'http://127.0.0.1:1',
      endpoint: '/v1/chat/completions',
      status: '502',
    }),
    1,
  );
});

test('a backend that sends no headers in time gives a 504', async (t) => {
  const backend = await startEchoBackend(t);
  const { url } = await startInProcessProxy(t, { 'backend-url': backend.url, 'headers-timeout': '200' });
  const res = await send(`${url}/hang`);
  assert.equal(res.status, 504);
  assert.equal(JSON.parse(res.text).error.code, 'backend_timeout');
});

test('keep-alive connections to the backend are reused', async (t) => {
  const backend = await startEchoBackend(t);
  const { url } = await startInProcessProxy(t, { 'backend-url': backend.url });
  const dispatcher = new Agent({ connections: 1 });
  t.after(() => dispatcher.close());
  for (let i = 0; i < 20; i++) {
    const res = await send(`${url}/echo/${i}`, { dispatcher });
    assert.equal(res.status, 200);
    // undici hands a connection back to its pool one turn after the body ends.
    await tick();
  }
  assert.equal(backend.requests, 20);
  assert.equal(backend.connections, 1);
});

test('a completion body over --body-limit gets 413 before the backend is contacted, chunked too', async (t) => {
  const backend = await startEchoBackend(t);
  const { url } = await startInProcessProxy(t, { 'backend-url': backend.url, 'body-limit': '1kb' });
  const big = JSON.stringify({ model: 'm', prompt: 'x'.repeat(2048) });
  const res = await send(`${url}/v1/completions`, { body: big });
  assert.equal(res.status, 413);
  assert.equal(JSON.parse(res.text).error.code, 'request_too_large');
  const dispatcher = new Agent();
  t.after(() => dispatcher.close());
  const chunked = await request(`${url}/v1/completions`, {
    method: 'POST',
    body: Readable.from([Buffer.from(big.slice(0, 1000)), Buffer.from(big.slice(1000))]),
    dispatcher,
  });
  assert.equal(chunked.statusCode, 413);
  await chunked.body.dump();
  assert.equal(backend.requests, 0);
  const small = await send(`${url}/v1/completions`, { body: JSON.stringify({ model: 'm', prompt: 'hi' }) });
  assert.equal(small.status, 200);
});

test("--strip-prefix '' forwards /inference paths unchanged", async (t) => {
  const backend = await startEchoBackend(t);
  const { url } = await startInProcessProxy(t, { 'backend-url': backend.url, 'strip-prefix': '' });
  const res = await send(`${url}/inference/echo?q=1`);
  assert.equal(res.status, 404);
  const direct = await send(`${url}/echo?q=1`);
  assert.equal(JSON.parse(direct.text).url, '/echo?q=1');
});

test('a backend URL with a path prefixes every forwarded path', async (t) => {
  const backend = await startEchoBackend(t);
  const { url } = await startInProcessProxy(t, { 'backend-url': `${backend.url}/echo/base/` });
  const res = await send(`${url}/inference/v1/files?x=1`);
  assert.equal(JSON.parse(res.text).url, '/echo/base/v1/files?x=1');
});

test('an absolute-form request target is refused and never reaches any backend', async (t) => {
  const backend = await startEchoBackend(t);
  const { url } = await startInProcessProxy(t, { 'backend-url': backend.url });
  const { port } = new URL(url);
  const reply = await rawRequest(Number(port), 'GET http://example.com/echo HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n');
  assert.match(reply, /^HTTP\/1\.1 400 /);
  assert.match(reply, /invalid_request_target/);
  assert.equal(backend.requests, 0);
});

test('backend error statuses and HEAD requests pass through', async (t) => {
  const backend = await startEchoBackend(t);
  const { url } = await startInProcessProxy(t, { 'backend-url': backend.url });
  const missing = await send(`${url}/nothing`);
  assert.equal(missing.status, 404);
  assert.equal(missing.text, 'not found');
  const head = await send(`${url}/binary?size=10`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], '10');
  assert.equal(head.body.length, 0);
});

test('/healthz is answered by the proxy and /metrics is not forwarded', async (t) => {
  const backend = await startEchoBackend(t);
  const { url } = await startInProcessProxy(t, { 'backend-url': backend.url });
  const health = await send(`${url}/healthz`);
  assert.equal(health.status, 200);
  assert.equal(JSON.parse(health.text).status, 'ok');
  const metrics = await send(`${url}/metrics`);
  assert.match(metrics.text, /# TYPE input_requests_total counter/);
  const post = await send(`${url}/metrics`, { method: 'POST', body: 'x' });
  assert.equal(post.status, 405);
  assert.equal(backend.requests, 0);
});
