/**
 * Overload shedding across the workers of the real cluster: --max-in-flight is divided over them, the excess
 * gets 503 at once and the admitted requests keep their latency.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePromText, sampleValue, sumSamples } from '../../src/metrics/prom-text.js';
import { eventually } from '../../support/wait.js';
import { okChat } from '../helpers/cluster-load.js';
import { call, chatBody } from '../helpers/http.js';
import { startMockBackend } from '../helpers/mock-backend.js';
import { startCluster } from '../helpers/start-proxy.js';

const TEST_TIMEOUT_MS = 90_000;
const CHAT = '/v1/chat/completions';
const JSON_HEADERS = { 'content-type': 'application/json' };

test('--max-in-flight 4 on 2 workers: the excess gets 503 + Retry-After, the admitted keep their latency', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const mock = await startMockBackend(t);
  const running = await startCluster(t, ['--workers', '2', '--backend-url', mock.url, '--max-in-flight', '4']);
  const TTFT_MS = 1_500;
  const N = 12;
  const results = await Promise.all(
    Array.from({ length: N }, () =>
      call(`${running.url}${CHAT}`, { body: chatBody(), headers: { ...JSON_HEADERS, 'x-mock-ttft-ms': String(TTFT_MS) } }),
    ),
  );
  const admitted = results.filter((r) => r.status === 200);
  const shed = results.filter((r) => r.status === 503);
  assert.equal(admitted.length + shed.length, N, results.map((r) => `${r.status} ${r.error}`).join('; '));

  // How many each worker received decides how many it admitted (2 each): read it from the access log.
  const access = await eventually(
    'every request logged',
    () => running.lines.filter((line) => line.msg === 'access'),
    (lines) => lines.length >= N,
  );
  const perWorker = new Map<unknown, number>();
  for (const line of access) perWorker.set(line.worker, (perWorker.get(line.worker) ?? 0) + 1);
  const expectedAdmitted = [...perWorker.values()].reduce((sum, n) => sum + Math.min(2, n), 0);
  t.diagnostic(
    `per worker ${JSON.stringify([...perWorker.values()])}; admitted ${admitted.length}, shed ${shed.length}; ` +
      `admitted latency ${admitted.map((r) => Math.round(r.ms)).join(', ')} ms`,
  );
  // With the default --cluster-scheduling none the kernel may give one worker most connections.
  assert.equal(admitted.length, expectedAdmitted);

  for (const res of shed) {
    assert.equal(res.headers['retry-after'], '1');
    assert.equal(JSON.parse(res.text).error.code, 'proxy_overloaded');
  }
  for (const res of admitted) {
    assert.ok(okChat(res));
    assert.ok(res.ms < TTFT_MS + 1_000, `an admitted request took ${Math.round(res.ms)} ms`);
  }
  const metrics = parsePromText((await call(`${running.url}/metrics`)).text);
  assert.equal(sampleValue(metrics, 'overload_rejections_total', { url: 'none' }), shed.length);
  assert.equal(sampleValue(metrics, 'output_requests_total', { url: 'none', endpoint: CHAT, status: '503' }), shed.length);
  assert.equal(sumSamples(metrics, 'in_flight_limit'), 4, 'the limits of the 2 workers add up to --max-in-flight');
  assert.equal(mock.stats.requests, admitted.length, 'shed requests never reached the backend');
});

test('with the default --max-in-flight, streams beyond twice the upstream pool wait for a connection instead of a 503', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const mock = await startMockBackend(t);
  // A pool of 2 connections: the old default admitted 2 × 2 = 4 requests per worker and shed the rest.
  const running = await startCluster(t, ['--workers', '1', '--backend-url', mock.url, '--upstream-connections', '2']);
  const N = 10;
  const STREAM = { ...JSON_HEADERS, 'x-mock-ttft-ms': '0', 'x-mock-token-delay-ms': '100' };
  const results = await Promise.all(
    Array.from({ length: N }, () => call(`${running.url}${CHAT}`, { body: chatBody({ stream: true, max_tokens: 4 }), headers: STREAM })),
  );
  assert.deepEqual(
    results.map((r) => [r.status, r.error, r.text.endsWith('data: [DONE]\n\n')]),
    results.map(() => [200, null, true]),
  );
  const metrics = parsePromText((await call(`${running.url}/metrics`)).text);
  assert.equal(sampleValue(metrics, 'overload_rejections_total', { url: 'none' }), undefined);
  assert.equal(sumSamples(metrics, 'in_flight_limit'), 4_096);
  assert.equal(mock.stats.completionRequests, N);
});
