/**
 * A graceful stop of the real cluster (SIGTERM, SIGINT) with streams in flight: the drain lets the short one
 * finish and cuts the long one at --drain-timeout. Timing bounds are generous for a loaded 2-core machine.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { childrenOf, isAlive } from '../../support/processes.js';
import { completedStream, longStream } from '../helpers/cluster-load.js';
import { call } from '../helpers/http.js';
import { startMockBackend } from '../helpers/mock-backend.js';
import { startCluster } from '../helpers/start-proxy.js';

const TEST_TIMEOUT_MS = 90_000;

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal}: a short stream finishes, a long one is cut at --drain-timeout, the primary exits 0, nothing is left`, {
    timeout: TEST_TIMEOUT_MS,
  }, async (t) => {
    const mock = await startMockBackend(t);
    const DRAIN_MS = 1_000;
    const running = await startCluster(t, [
      '--workers',
      '2',
      '--backend-url',
      mock.url,
      '--drain-timeout',
      String(DRAIN_MS),
      '--access-log',
      'off',
    ]);
    const primaryPid = running.child.pid as number;
    const pids = await childrenOf(primaryPid);
    assert.equal(pids.length, 2);

    // ~300 ms and ~10 s; both have sent their first byte (so they are in flight) before the signal.
    const short = longStream(running.url, 6, 50);
    const long = longStream(running.url, 100, 100);
    await Promise.all([short.started, long.started]);

    const signalledAt = Date.now();
    const exited = running.stop(signal);
    // A new connection once both workers are draining: served or refused, never left hanging.
    await running.waitForLine(() => running.lines.filter((line) => line.msg === 'worker draining').length >= 2);
    const during = await call(`${running.url}/v1/models`, { timeoutMs: 8_000 });
    const code = await exited;
    const exitMs = Date.now() - signalledAt;
    const [shortRes, longRes] = await Promise.all([short.result, long.result]);

    t.diagnostic(
      `exit ${code} after ${exitMs} ms; long stream: status ${longRes.status}, ${longRes.error}, after ${Math.round(longRes.ms)} ms; ` +
        `new request during drain: status ${during.status} ${during.error ?? ''} in ${Math.round(during.ms)} ms`,
    );
    assert.ok(completedStream(shortRes), `short stream: ${shortRes.status} ${shortRes.error} ${shortRes.text.slice(-80)}`);
    assert.equal(longRes.status, 200, 'the long stream had started');
    assert.ok(!longRes.text.includes('[DONE]'), 'the long stream did not complete');
    assert.notEqual(longRes.error, null, 'the client sees an aborted response, not a clean end');
    assert.ok(longRes.ms < 10_000 - 1_000, `the long stream was cut at the deadline (${Math.round(longRes.ms)} ms)`);

    assert.equal(code, 0);
    assert.ok(exitMs < DRAIN_MS + 4_000, `the primary exited ${exitMs} ms after ${signal}`);
    for (const pid of pids) assert.ok(!(await isAlive(pid)), `worker ${pid} is gone`);
    assert.deepEqual(await childrenOf(primaryPid), []);

    assert.ok(!/Timeout|aborted/i.test(during.error ?? ''), `a request during the drain hung: ${during.error}`);
    assert.ok(during.ms < 8_000);
    if (during.error === null) assert.equal(during.status, 200);
  });
}
