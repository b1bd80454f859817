import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { histogramBuckets, parsePromText, sampleValue } from '../../src/metrics/prom-text.js';
import { eventually } from '../../support/wait.js';
import { chatBody, send } from '../helpers/http.js';
import { startInProcessProxy } from '../helpers/in-process-proxy.js';
import { startMockBackend } from '../helpers/mock-backend.js';
import { rawConnection } from '../helpers/raw-http.js';

const CHAT = '/v1/chat/completions';
const JSON_HEADERS = { 'content-type': 'application/json' };
/** Long enough to land well above the proxy's own time on any machine, short enough for a test. */
const UPLOAD_PAUSE_MS = 250;

test('proxy_overhead_seconds: one observation per relayed head; a slow upload counts (head to upstream write), the backend’s time does not', async (t) => {
  const mock = await startMockBackend(t);
  const proxy = await startInProcessProxy(t, { 'backend-url': mock.url, 'server-timing': 'on' });
  // Five quick requests, the backend 300 ms slow to answer each: that is upstream time, not the proxy's.
  for (let i = 0; i < 5; i++) {
    const res = await send(`${proxy.url}${CHAT}`, { body: chatBody(), headers: { ...JSON_HEADERS, 'x-mock-ttft-ms': '300' } });
    assert.equal(res.status, 200);
    const timing = /^proxy;dur=(\d+\.\d{3}), upstream;dur=(\d+\.\d{3})$/.exec(String(res.headers['server-timing']));
    assert.ok(timing, String(res.headers['server-timing']));
    assert.ok(Number(timing[2]) >= 300, `upstream ${timing[2]} ms covers the backend's 300 ms`);
    assert.ok(Number(timing[1]) < 300, `proxy ${timing[1]} ms does not`);
  }
  // One request whose body arrives in two parts, 250 ms apart: the proxy cannot send it on before the end.
  const body = chatBody();
  const half = Math.floor(body.length / 2);
  const raw = await rawConnection(new URL(proxy.url).port as unknown as number);
  t.after(() => raw.destroy());
  raw.write(
    `POST ${CHAT} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body.slice(0, half)}`,
  );
  // The server's clock starts when it has the head, which can be after the write above (the same event
  // loop runs both): time the pause only once the request is in flight (under url="none" while its body is
  // read), on the server's own clock (performance.now, the same process). The server's time then covers
  // the whole measured pause, however late the head was read and however early the timer fired.
  await eventually(
    'the request head reached the server',
    async () => sampleValue(parsePromText(await proxy.registry.metrics()), 'in_flight_requests', { url: 'none' }),
    (inFlight) => inFlight === 1,
    { everyMs: 5 },
  );
  const pauseStart = performance.now();
  await sleep(UPLOAD_PAUSE_MS);
  const pausedMs = performance.now() - pauseStart;
  raw.write(body.slice(half));
  const reply = await raw.until((data) => data.includes('"choices"'));
  assert.match(reply, /^HTTP\/1\.1 200 /);
  const serverTiming = /server-timing: proxy;dur=(\d+\.\d{3})/i.exec(reply);
  // Server-Timing has 3 decimals: allow its rounding down.
  assert.ok(serverTiming && Number(serverTiming[1]) >= pausedMs - 0.001, `${pausedMs} ms paused: ${reply.slice(0, 400)}`);

  const metrics = parsePromText(await proxy.registry.metrics());
  const labels = { url: mock.url, endpoint: CHAT };
  assert.equal(sampleValue(metrics, 'proxy_overhead_seconds_count', labels), 6);
  const buckets = histogramBuckets(metrics, 'proxy_overhead_seconds', labels);
  assert.equal(buckets.get(Number.POSITIVE_INFINITY), 6);
  assert.ok((buckets.get(0.1) ?? 6) <= 5, 'the slow upload lands above 100 ms');
  // With the backend's 5 x 300 ms inside, the sum would be at least 1.5 s plus the upload pause.
  const sum = sampleValue(metrics, 'proxy_overhead_seconds_sum', labels) ?? 0;
  assert.ok(sum >= pausedMs / 1000 && sum < 1.5 + pausedMs / 1000, `sum ${sum}`);
  assert.deepEqual(
    [...buckets.keys()].filter(Number.isFinite),
    [0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
  );
});

test('without --server-timing no Server-Timing header is sent', async (t) => {
  const mock = await startMockBackend(t);
  const proxy = await startInProcessProxy(t, { 'backend-url': mock.url });
  const res = await send(`${proxy.url}${CHAT}`, { body: chatBody(), headers: JSON_HEADERS });
  assert.equal(res.status, 200);
  assert.equal(res.headers['server-timing'], undefined);
});
