import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { Agent, request } from 'undici';
import { histogramBuckets, type PromSamples, parsePromText, sampleValue } from '../../src/metrics/prom-text.js';
import type { MockBackend } from '../../src/mock-backend/create-mock-backend.js';
import { eventually } from '../../support/wait.js';
import { openStream, send } from '../helpers/http.js';
import { startMockBackend } from '../helpers/mock-backend.js';
import { type RunningProxy, startCluster } from '../helpers/start-proxy.js';

const TEST_TIMEOUT_MS = 90_000;
const CHAT = '/v1/chat/completions';
const TEXT = '/v1/completions';

async function setup(t: TestContext, args: string[] = []): Promise<{ mock: MockBackend; proxy: RunningProxy }> {
  const mock = await startMockBackend(t);
  const proxy = await startCluster(t, ['--workers', '2', '--backend-url', mock.url, ...args]);
  return { mock, proxy };
}

function chat(fields: Record<string, unknown>): string {
  return JSON.stringify({ model: 'mock-model', messages: [{ role: 'user', content: 'one two three four five' }], ...fields });
}

function completion(fields: Record<string, unknown>): string {
  return JSON.stringify({ model: 'mock-model', prompt: 'alpha beta gamma', ...fields });
}

async function post(base: string, path: string, body: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await send(`${base}${path}`, { body, headers: { 'content-type': 'application/json', ...headers } });
  assert.equal(res.status, 200, res.text);
  return res.text;
}

const metricsOf = async (proxy: RunningProxy): Promise<PromSamples> => parsePromText((await send(`${proxy.url}/metrics`)).text);
const labels = (mock: MockBackend, endpoint: string) => ({ url: mock.url, endpoint });
const total = (metrics: PromSamples, name: string, mock: MockBackend): number =>
  (sampleValue(metrics, name, labels(mock, CHAT)) ?? 0) + (sampleValue(metrics, name, labels(mock, TEXT)) ?? 0);
const USAGE_ONLY = /"choices":\[\],"usage"/;

test('token counters equal the backend’s own counts, streamed and not, chat and text, n > 1', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { mock, proxy } = await setup(t);
  const base = proxy.url;
  const injected = await post(base, `/inference${CHAT}`, chat({ stream: true, max_tokens: 5 }));
  assert.doesNotMatch(injected, USAGE_ONLY, 'a client that did not ask never sees the usage chunk');
  assert.match(injected, /data: \[DONE\]\n\n$/);
  const asked = await post(base, CHAT, chat({ stream: true, max_tokens: 4, stream_options: { include_usage: true } }));
  assert.match(asked, USAGE_ONLY, 'a client that asked gets its usage chunk');
  await post(base, CHAT, chat({ max_tokens: 7 }));
  await post(base, CHAT, chat({ stream: true, max_tokens: 3, n: 2 }));
  await post(base, CHAT, chat({ max_tokens: 2, n: 3 }));
  await post(base, TEXT, completion({ stream: true, max_tokens: 6 }));
  await post(base, TEXT, completion({ max_tokens: 9 }));
  await post(base, TEXT, completion({ stream: true, max_tokens: 2, n: 2, stream_options: { include_usage: true } }));

  const metrics = await metricsOf(proxy);
  assert.equal(total(metrics, 'prompt_tokens_total', mock), mock.stats.promptTokens);
  assert.equal(total(metrics, 'completion_tokens_total', mock), mock.stats.completionTokens);
  // chat: 5 + 4 + 7 + 3*2 + 2*3 completion tokens; 5 prompt words each of 5 requests.
  assert.equal(sampleValue(metrics, 'completion_tokens_total', labels(mock, CHAT)), 28);
  assert.equal(sampleValue(metrics, 'prompt_tokens_total', labels(mock, CHAT)), 25);
  assert.equal(sampleValue(metrics, 'completion_tokens_total', labels(mock, TEXT)), 6 + 9 + 4);
  assert.equal(sampleValue(metrics, 'prompt_tokens_total', labels(mock, TEXT)), 9);
  assert.equal(sampleValue(metrics, 'request_completion_tokens_count', labels(mock, CHAT)), 5);
  assert.deepEqual(
    histogramBuckets(metrics, 'request_completion_tokens', labels(mock, CHAT)),
    new Map([
      [1, 0],
      [4, 1],
      [16, 5],
      [64, 5],
      [256, 5],
      [1024, 5],
      [4096, 5],
      [16384, 5],
      [65536, 5],
      [262144, 5],
      [1048576, 5],
      [Number.POSITIVE_INFINITY, 5],
    ]),
  );
  assert.equal(sampleValue(metrics, 'stream_outcomes_total', { ...labels(mock, CHAT), outcome: 'completed' }), 5);
  assert.equal(sampleValue(metrics, 'stream_outcomes_total', { ...labels(mock, TEXT), outcome: 'completed' }), 3);
  assert.equal(total(metrics, 'usage_estimated_total', mock), 0);
  // Streams only: one TTFT observation per streamed request.
  assert.equal(sampleValue(metrics, 'time_to_first_token_seconds_count', labels(mock, CHAT)), 3);
  assert.equal(sampleValue(metrics, 'time_to_first_token_seconds_count', labels(mock, TEXT)), 2);
});

test('with --inject-usage off, completion tokens are estimated from content events and counted as estimates', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const { mock, proxy } = await setup(t, ['--inject-usage', 'off']);
  await post(proxy.url, CHAT, chat({ stream: true, max_tokens: 5 }));
  await post(proxy.url, CHAT, chat({ stream: true, max_tokens: 3, n: 2 }));
  const forwarded = JSON.parse(mock.stats.lastRequest?.body.toString() ?? '{}');
  assert.equal(forwarded.stream_options, undefined, 'the body went out unchanged');
  await post(proxy.url, CHAT, chat({ stream: true, max_tokens: 4, stream_options: { include_usage: true } }));
  const metrics = await metricsOf(proxy);
  assert.equal(sampleValue(metrics, 'completion_tokens_total', labels(mock, CHAT)), 5 + 6 + 4);
  assert.equal(
    sampleValue(metrics, 'prompt_tokens_total', labels(mock, CHAT)),
    5,
    'only the stream that asked for usage reports prompt tokens',
  );
  assert.equal(sampleValue(metrics, 'usage_estimated_total', labels(mock, CHAT)), 2);
});

test('events split one byte at a time and CRLF line endings still count exactly', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { mock, proxy } = await setup(t);
  const split = await post(proxy.url, CHAT, chat({ stream: true, max_tokens: 6 }), { 'x-mock-split-bytes': '1' });
  assert.doesNotMatch(split, USAGE_ONLY);
  assert.equal((split.match(/"content":" tok/g) ?? []).length, 6);
  const crlf = await post(proxy.url, TEXT, completion({ stream: true, max_tokens: 4 }), { 'x-mock-line-ending': 'crlf' });
  assert.doesNotMatch(crlf, USAGE_ONLY);
  assert.match(crlf, /data: \[DONE\]\r\n\r\n$/);
  const metrics = await metricsOf(proxy);
  assert.equal(sampleValue(metrics, 'completion_tokens_total', labels(mock, CHAT)), 6);
  assert.equal(sampleValue(metrics, 'completion_tokens_total', labels(mock, TEXT)), 4);
  assert.equal(total(metrics, 'usage_estimated_total', mock), 0);
  assert.equal(total(metrics, 'completion_tokens_total', mock), mock.stats.completionTokens);
});

test('1 s to first token and 20 ms per token land in the right buckets', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { mock, proxy } = await setup(t);
  await post(proxy.url, CHAT, chat({ stream: true, max_tokens: 26 }), { 'x-mock-ttft-ms': '1000', 'x-mock-token-delay-ms': '20' });
  const metrics = await metricsOf(proxy);
  const l = labels(mock, CHAT);
  const ttft = histogramBuckets(metrics, 'time_to_first_token_seconds', l);
  assert.equal(ttft.get(1), 0, 'not before 1 s');
  assert.equal(ttft.get(1.5), 1, 'about 1 s');
  const throughput = histogramBuckets(metrics, 'decoding_throughput_tokens_per_second', l);
  assert.equal(throughput.get(40), 0);
  assert.equal(throughput.get(60), 1, 'about 50 tokens/s');
  const tpot = histogramBuckets(metrics, 'time_per_output_token_seconds', l);
  assert.equal(tpot.get(0.015), 0);
  assert.equal(tpot.get(0.025), 1, 'about 20 ms per token');
  // The first byte (headers) came long before the first token.
  assert.equal(histogramBuckets(metrics, 'time_to_first_byte_seconds', l).get(0.5), 1);
});

test('keep-alive comments before the first token do not count as the first token', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { mock, proxy } = await setup(t);
  const body = await post(proxy.url, CHAT, chat({ stream: true, max_tokens: 3 }), {
    'x-mock-ttft-ms': '600',
    'x-mock-keepalive-comments': '4',
  });
  assert.match(body, /^: keep-alive/);
  const ttft = histogramBuckets(await metricsOf(proxy), 'time_to_first_token_seconds', labels(mock, CHAT));
  assert.equal(ttft.get(0.5), 0, 'a comment at ~0.15 s was not taken for the first token');
  assert.equal(ttft.get(0.75), 1);
});

test('in-band errors, backend crashes, silent backends and departing clients each count as their outcome', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const { mock, proxy } = await setup(t, ['--body-timeout', '300']);
  const inband = await post(proxy.url, CHAT, chat({ stream: true, max_tokens: 5 }), { 'x-mock-inband-error-after': '2' });
  assert.match(inband, /simulated failure/);

  const dispatcher = new Agent();
  t.after(() => dispatcher.close());
  const crash = await request(`${proxy.url}${CHAT}`, {
    method: 'POST',
    body: chat({ stream: true, max_tokens: 5 }),
    headers: { 'x-mock-crash-after': '2' },
    dispatcher,
  });
  assert.equal(crash.statusCode, 200);
  await assert.rejects(crash.body.text(), 'the client can tell the response failed');

  const silent = await request(`${proxy.url}${TEXT}`, {
    method: 'POST',
    body: completion({ stream: true, max_tokens: 5 }),
    headers: { 'x-mock-silent-after': '1' },
    dispatcher,
  });
  await assert.rejects(silent.body.text());

  const leaving = await openStream(
    `${proxy.url}${CHAT}`,
    { method: 'POST', body: chat({ stream: true, max_tokens: 50 }), headers: { 'x-mock-token-delay-ms': '50' } },
    dispatcher,
  );
  leaving.leave();
  // The proxy aborts the backend request as it records the departure: once the backend has seen both the
  // silent stream (cut at --body-timeout) and this one go, both are counted.
  await eventually(
    'the backend saw 2 requests abandoned',
    () => mock.stats.clientAborts,
    (n) => n === 2,
  );

  const metrics = await metricsOf(proxy);
  const outcome = (endpoint: string, name: string) =>
    sampleValue(metrics, 'stream_outcomes_total', { ...labels(mock, endpoint), outcome: name });
  assert.equal(outcome(CHAT, 'inband_error'), 1);
  assert.equal(outcome(CHAT, 'upstream_error'), 1);
  assert.equal(outcome(CHAT, 'client_disconnect'), 1);
  assert.equal(outcome(TEXT, 'timeout'), 1);
  assert.equal(outcome(CHAT, 'completed') ?? 0, 0);
  assert.equal(sampleValue(metrics, 'in_flight_requests', { url: mock.url }), 0);
  assert.equal(sampleValue(metrics, 'output_requests_total', { ...labels(mock, CHAT), status: '499' }), 1);
});

test('the access log line carries model, tokens, ttft, tpot and outcome', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { proxy } = await setup(t);
  await post(proxy.url, CHAT, chat({ stream: true, max_tokens: 4 }), { 'x-mock-token-delay-ms': '10', 'x-request-id': 'log-check-1' });
  const line = await proxy.waitForLine((l) => l.msg === 'access' && l.request_id === 'log-check-1');
  assert.equal(line.model, 'mock-model');
  assert.equal(line.prompt_tokens, 5);
  assert.equal(line.completion_tokens, 4);
  assert.equal(line.outcome, 'completed');
  assert.equal(line.stream, true);
  assert.equal(typeof line.ttft_ms, 'number');
  // Tokens leave the backend 10 ms apart, but a loaded machine can read two in one go: no timing bound here,
  // only what must hold whatever the load: the 3 gaps between the 4 tokens fit between first token and end.
  const tpot = line.tpot_ms as number;
  assert.ok(tpot > 0, String(tpot));
  assert.ok(tpot * 3 <= (line.duration_ms as number) - (line.ttft_ms as number) + 0.01, JSON.stringify(line));
});
