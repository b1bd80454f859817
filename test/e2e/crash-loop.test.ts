import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startCluster } from '../helpers/start-proxy.js';

// Five deaths and 2.8 s of backoff; a worker's start takes seconds on a loaded 2-core machine.
const WAIT_MS = 40_000;
const DEATHS = ['worker died, restarting it', 'worker crash loop: restarting with backoff'];

test('workers that keep dying after the first start back off, are reported as a crash loop, and the primary stays up', {
  timeout: 60_000,
}, async (t) => {
  const proxy = await startCluster(t, ['--workers', '1']);
  // Each new worker is killed as soon as it listens: five quick deaths in a row on one slot.
  for (let killed = 0; killed < 5; killed++) {
    const listening = proxy.lines.filter((line) => line.msg === 'worker listening');
    const worker =
      listening[killed] ?? (await proxy.waitForLine((line) => line.msg === 'worker listening' && !listening.includes(line), WAIT_MS));
    process.kill(worker.worker_pid as number, 'SIGKILL');
    await proxy.waitForLine((line) => DEATHS.includes(line.msg ?? '') && line.worker_pid === worker.worker_pid, WAIT_MS);
  }
  const deaths = proxy.lines.filter((line) => DEATHS.includes(line.msg ?? ''));
  assert.deepEqual(
    deaths.map((d) => d.failures),
    [1, 2, 3, 4, 5],
  );
  assert.deepEqual(
    deaths.map((d) => d.restartInMs),
    [0, 400, 800, 1600, 3200],
  );
  assert.equal(deaths[2]?.msg, 'worker crash loop: restarting with backoff');
  assert.equal(proxy.child.exitCode, null, 'the primary is still running');
  assert.equal(await proxy.stop('SIGTERM'), 0);
});
