/**
 * A rolling restart (SIGHUP) of the real cluster under load: zero failed requests and no count lost.
 * Every wait is bounded; timing bounds are generous for a loaded 2-core machine.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePromText, sampleValue, sumSamples } from '../../src/metrics/prom-text.js';
import { childrenOf, waitGone } from '../../support/processes.js';
import { eventually } from '../../support/wait.js';
import { closeAll, completedStream, longStream, pinnedAgents, shortChatLoad } from '../helpers/cluster-load.js';
import { call } from '../helpers/http.js';
import { startMockBackend } from '../helpers/mock-backend.js';
import { assertMonotonic, scrapeLoop } from '../helpers/scrape-loop.js';
import { lineTimeMs, metricsPortUrl, startCluster } from '../helpers/start-proxy.js';

const TEST_TIMEOUT_MS = 90_000;
const CHAT = '/v1/chat/completions';
/** Answers to wait for before the restart and after it, so that old and new workers both carry load. */
const ANSWERS_PER_PHASE = 20;

test('SIGHUP under load: no failed request, every long stream completes, all workers replaced, no count lost', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const mock = await startMockBackend(t);
  const running = await startCluster(t, [
    '--workers',
    '2',
    '--backend-url',
    mock.url,
    '--metrics-port',
    '0',
    '--drain-timeout',
    '15000',
    '--access-log',
    'off',
  ]);
  const metricsUrl = `${await metricsPortUrl(running)}/metrics`;
  const primaryPid = running.child.pid as number;
  const before = await childrenOf(primaryPid);
  assert.equal(before.length, 2);

  let stop = false;
  const scrapes = scrapeLoop(metricsUrl, 200);
  // Also on failure: nothing may keep running after the test.
  t.after(async () => {
    stop = true;
    await scrapes.stop();
  });
  // Clients that do not retry: a reset would be a failed request.
  const load = shortChatLoad(running.url, { clients: 6, keepAlive: () => true, stopAt: () => stop });
  // Long streams (~3 s), 2 on each old worker, all started before the SIGHUP.
  const pinned = await pinnedAgents(running.url, before, 2);
  t.after(() => closeAll(pinned));
  const streams = [...pinned.values()].flat().map((agent) => longStream(running.url, 30, 100, agent));
  const STREAMS = streams.length;
  await Promise.all(streams.map((stream) => stream.started));
  await eventually(
    'the load answered by the old workers',
    () => load.tally.ok,
    (ok) => ok >= ANSWERS_PER_PHASE,
  );

  running.child.kill('SIGHUP');
  await running.waitForLine((line) => line.msg === 'rolling restart finished', 30_000);
  assert.deepEqual(await waitGone(before, 30_000), [], 'both old workers exited');
  // Some load on the new workers too.
  const okOnOld = load.tally.ok;
  await eventually(
    'the load answered by the new workers',
    () => load.tally.ok,
    (ok) => ok >= okOnOld + ANSWERS_PER_PHASE,
  );
  stop = true;
  const tally = await load.done;
  const streamResults = await Promise.all(streams.map((stream) => stream.result));
  await scrapes.further(2);
  const { totals } = await scrapes.stop();
  const final = parsePromText((await call(metricsUrl)).text);

  const drainTimes = running.lines.filter((line) => line.msg === 'worker draining').map(lineTimeMs);
  // Each reset's time after the latest drain that began before it (negative: before the first drain).
  const resetOffsets = tally.resets.map((r) => {
    const earlier = drainTimes.filter((d) => d <= r.atMs);
    return r.atMs - (earlier.length > 0 ? Math.max(...earlier) : Math.min(...drainTimes));
  });
  t.diagnostic(
    `requests ${tally.sent}, ok ${tally.ok}, failed ${tally.failures.length}; ` +
      `reset before any response byte ${tally.resets.length}, ms after a worker began draining: ${JSON.stringify(resetOffsets)}`,
  );

  assert.ok(tally.sent > 50, `the load ran (${tally.sent} requests)`);
  // A draining worker must not close a keep-alive connection whose next request is already on its way (it
  // used to: http.Server.close() destroys idle connections at once since Node 19).
  assert.deepEqual(tally.resets, [], 'no request was reset');
  assert.deepEqual(tally.failures, [], 'no request failed');
  for (const [i, res] of streamResults.entries()) assert.ok(completedStream(res), `stream ${i}: ${res.status} ${res.error}`);
  const after = await childrenOf(primaryPid);
  assert.equal(after.length, 2);
  for (const pid of before) assert.ok(!after.includes(pid), 'every old worker was replaced');
  assert.equal(sampleValue(final, 'worker_restarts_total'), 2);

  // Every request the clients sent counted exactly once, on arrival and on its end, across 4 workers.
  assertMonotonic(totals);
  const sent = tally.sent + STREAMS;
  assert.equal(sumSamples(final, 'input_requests_total'), sent, 'every request counted on arrival');
  assert.equal(sumSamples(final, 'output_requests_total'), sent, 'every request counted on its end');
  assert.equal(sampleValue(final, 'output_requests_total', { url: mock.url, endpoint: CHAT, status: '200' }), sent);
  assert.equal(sampleValue(final, 'in_flight_requests', { url: mock.url }), 0);
  assert.equal(mock.stats.requests, sent, 'the backend saw each request once');
});
