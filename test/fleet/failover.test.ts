import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { freePort } from '../../support/ports.js';
import { eventually } from '../../support/wait.js';
import { CHAT, chat, metricValue, postChat, scrape, startFleetProxy, startMocks } from '../helpers/fleet.js';
import { call, send, wasCut } from '../helpers/http.js';

const TEST = { timeout: 60_000 };
const JSON_HEADERS = { 'content-type': 'application/json' };

test('a 503 head is retried on another backend: the client never sees it, the failed backend is counted', TEST, async (t) => {
  const [failing, good] = await startMocks(t, [{ completionStatus: 503 }, {}]);
  const proxy = await startFleetProxy(t, [failing!.url, good!.url], ['--workers', '1', '--routing', 'round-robin', '--max-fails', '0']);
  for (let i = 0; i < 10; i++) assert.equal((await postChat(proxy.url)).status, 200);
  assert.equal(failing!.stats.completionRequests, 5, 'round-robin sent it every other first attempt');
  assert.equal(good!.stats.completionRequests, 10);
  const samples = await scrape(proxy);
  assert.equal(metricValue(samples, 'upstream_retries_total', { url: failing!.url, reason: '503' }), 5);
  assert.equal(metricValue(samples, 'output_requests_total', { url: good!.url, endpoint: CHAT, status: '200' }), 10);
  assert.equal(metricValue(samples, 'output_requests_total', { url: failing!.url, endpoint: CHAT, status: '503' }), 0);
  // Log lines are written in batches (at most 100 ms late): wait for the 5 retried requests' lines, bounded.
  const retried = await eventually(
    'an access line for each retried request',
    () => proxy.lines.filter((line) => line.msg === 'access' && Array.isArray(line.attempts)),
    (lines) => lines.length >= 5,
  );
  assert.equal(retried.length, 5);
  assert.deepEqual(retried[0]?.attempts, [{ backend: failing!.url, result: 503 }]);
  assert.equal(retried[0]?.backend, good!.url);
});

test('a refused connection is retried on another backend', TEST, async (t) => {
  const [good] = await startMocks(t, [{}]);
  const nothing = `http://127.0.0.1:${await freePort()}`;
  const proxy = await startFleetProxy(t, [nothing, good!.url], ['--workers', '1', '--routing', 'round-robin', '--max-fails', '0']);
  for (let i = 0; i < 6; i++) assert.equal((await postChat(proxy.url)).status, 200);
  assert.equal(good!.stats.completionRequests, 6);
  const samples = await scrape(proxy);
  assert.equal(metricValue(samples, 'upstream_retries_total', { url: nothing, reason: 'connect' }), 3);
  // The proxy's own time runs until the first attempt that went out (a refused one never did).
  const overhead = { url: good!.url, endpoint: CHAT };
  assert.equal(metricValue(samples, 'proxy_overhead_seconds_count', overhead), 6);
  const sum = metricValue(samples, 'proxy_overhead_seconds_sum', overhead);
  assert.ok(sum > 0 && sum < 6, `overhead sum ${sum} s`);
});

test('a reset after the first token is not retried: the client sees a cut stream with no token twice', TEST, async (t) => {
  const [crashing, other] = await startMocks(t, [{}, {}]);
  const proxy = await startFleetProxy(t, [crashing!.url, other!.url], ['--workers', '1', '--routing', 'round-robin']);
  const cut = await call(`${proxy.url}${CHAT}`, {
    method: 'POST',
    headers: { ...JSON_HEADERS, 'x-mock-crash-after': '2' },
    body: chat({ stream: true, max_tokens: 8 }),
  });
  assert.equal(cut.status, 200);
  assert.ok(wasCut(cut), 'the stream was cut, not ended');
  assert.equal(cut.text.includes('[DONE]'), false);
  assert.equal((cut.text.match(/tok0/g) ?? []).length, 1);
  assert.equal((cut.text.match(/tok1/g) ?? []).length, 1);
  assert.equal(cut.text.includes('tok2'), false);
  assert.equal(other!.stats.completionRequests, 0, 'never sent a second time');
  const samples = await scrape(proxy);
  assert.equal(metricValue(samples, 'stream_outcomes_total', { url: crashing!.url, endpoint: CHAT, outcome: 'upstream_error' }), 1);
  assert.equal(metricValue(samples, 'upstream_retries_total', { url: crashing!.url, reason: 'reset' }), 0);
});

test('a 429 with Retry-After goes to another backend, which takes the next requests while the first is held', TEST, async (t) => {
  const [busy, free] = await startMocks(t, [{ completionStatus: 429, retryAfterSec: 30 }, {}]);
  const proxy = await startFleetProxy(t, [busy!.url, free!.url], ['--workers', '1', '--routing', 'round-robin']);
  for (let i = 0; i < 8; i++) assert.equal((await postChat(proxy.url)).status, 200);
  assert.equal(busy!.stats.completionRequests, 1, 'held for 30 s after its first 429');
  const health = JSON.parse((await send(`${proxy.url}/healthz`)).text) as { backends: Array<{ url: string; state: string }> };
  assert.equal(health.backends.find((b) => b.url === busy!.url)?.state, 'held');
  const samples = await scrape(proxy);
  assert.equal(metricValue(samples, 'upstream_retries_total', { url: busy!.url, reason: '429' }), 1);
  assert.equal(metricValue(samples, 'backend_ejections_total', { url: busy!.url, reason: 'retry_after' }), 1);
});

test('a 429 with no other backend up reaches the client as it is', TEST, async (t) => {
  const [busy] = await startMocks(t, [{ completionStatus: 429, retryAfterSec: 2 }]);
  const proxy = await startFleetProxy(t, [busy!.url], ['--workers', '1']);
  const res = await postChat(proxy.url);
  assert.equal(res.status, 429);
  assert.equal(res.headers['retry-after'], '2');
  assert.equal(busy!.stats.completionRequests, 1);
});

test('retry budget: with every backend answering 503, retries stay within 10 + 20% of the requests', TEST, async (t) => {
  const mocks = await startMocks(t, [{ completionStatus: 503 }, { completionStatus: 503 }, { completionStatus: 503 }]);
  const proxy = await startFleetProxy(
    t,
    mocks.map((mock) => mock.url),
    ['--workers', '1', '--retries', '2', '--max-fails', '0'],
  );
  for (let i = 0; i < 50; i++) assert.equal((await postChat(proxy.url)).status, 503);
  const samples = await scrape(proxy);
  const retries = mocks.reduce(
    (total, mock) => total + metricValue(samples, 'upstream_retries_total', { url: mock.url, reason: '503' }),
    0,
  );
  // Without a budget: 2 retries for each of 50 requests. With it: 10 + 0.2 * 50 within the 10 s window.
  assert.equal(retries, 20);
  assert.equal(
    mocks.reduce((total, mock) => total + mock.stats.completionRequests, 0),
    70,
  );
});

test('max fails in a row take a backend out at once on every worker, and the verdict is counted', TEST, async (t) => {
  const [failing, good] = await startMocks(t, [{ completionStatus: 502 }, {}]);
  const proxy = await startFleetProxy(t, [failing!.url, good!.url], ['--workers', '2', '--max-fails', '3', '--fail-timeout', '30s']);
  for (let i = 0; i < 40; i++) assert.equal((await postChat(proxy.url)).status, 200);
  // At most max-fails per worker before the first verdict spreads: the rest of the traffic skips it.
  assert.ok(failing!.stats.completionRequests <= 6, `the failing backend got ${failing!.stats.completionRequests}`);
  const samples = await eventually(
    'the ejection counted',
    () => scrape(proxy),
    (s) => metricValue(s, 'backend_ejections_total', { url: failing!.url, reason: 'max_fails' }) >= 1,
  );
  assert.equal(metricValue(samples, 'backend_up', { url: failing!.url }), 0);
});

/** 6 streams, round-robin from a backend that dies in prefill (its head already sent) to a healthy one. */
async function streamsPastPrefillCrash(t: TestContext, hold: 'on' | 'off') {
  const [dying, good] = await startMocks(t, [{ crashInPrefill: true, ttftMs: 20 }, {}]);
  const proxy = await startFleetProxy(
    t,
    [dying!.url, good!.url],
    ['--workers', '1', '--routing', 'round-robin', '--max-fails', '0', '--hold-stream-head', hold],
  );
  const streams = [];
  for (let i = 0; i < 6; i++) {
    streams.push(await call(`${proxy.url}${CHAT}`, { method: 'POST', headers: JSON_HEADERS, body: chat({ stream: true, max_tokens: 4 }) }));
  }
  return { streams, samples: await scrape(proxy), dying: dying!, good: good! };
}

test('a stream whose backend dies in prefill, after its head went out, is failed over: 6/6 streams whole', TEST, async (t) => {
  const { streams, samples, dying, good } = await streamsPastPrefillCrash(t, 'on');
  for (const stream of streams) {
    assert.equal(stream.status, 200);
    assert.equal(stream.error, null);
    assert.ok(stream.text.endsWith('data: [DONE]\n\n'), 'whole');
    for (const token of ['tok0', 'tok1', 'tok2', 'tok3']) assert.equal((stream.text.match(new RegExp(token, 'g')) ?? []).length, 1);
  }
  assert.equal(dying.stats.completionRequests, 3, 'round-robin tried the dying backend first for every other stream');
  assert.equal(good.stats.completionRequests, 6);
  assert.equal(metricValue(samples, 'upstream_retries_total', { url: dying.url, reason: 'reset' }), 3);
  assert.equal(metricValue(samples, 'stream_outcomes_total', { url: good.url, endpoint: CHAT, outcome: 'completed' }), 6);
  assert.equal(metricValue(samples, 'output_requests_total', { url: dying.url, endpoint: CHAT, status: '200' }), 0);
});

test('--hold-stream-head off relays the head at once: a backend dying in prefill cuts the stream with no token', TEST, async (t) => {
  const { streams, samples, dying } = await streamsPastPrefillCrash(t, 'off');
  const cut = streams.filter((stream) => wasCut(stream));
  assert.equal(cut.length, 3);
  for (const stream of cut) {
    assert.equal(stream.status, 200);
    assert.equal(stream.text.includes('tok0'), false);
  }
  assert.equal(metricValue(samples, 'upstream_retries_total', { url: dying.url, reason: 'reset' }), 0);
  assert.equal(metricValue(samples, 'stream_outcomes_total', { url: dying.url, endpoint: CHAT, outcome: 'upstream_error' }), 3);
});
