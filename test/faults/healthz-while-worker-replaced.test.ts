/**
 * /healthz of the real cluster while a worker is killed and replaced: on the main port (answered by the
 * workers) and on the primary's --metrics-port. Every wait is bounded.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { childrenOf } from '../../support/processes.js';
import { eventually } from '../../support/wait.js';
import { call } from '../helpers/http.js';
import { startMockBackend } from '../helpers/mock-backend.js';
import { lineTimeMs, metricsPortUrl, startCluster } from '../helpers/start-proxy.js';

const TEST_TIMEOUT_MS = 90_000;
/** Time the replacement's first state broadcast may take to reach every worker. */
const BROADCAST_MARGIN_MS = 300;

interface Observation {
  atMs: number;
  value: number | string;
}

async function observe(url: string): Promise<Observation> {
  const res = await call(url, { timeoutMs: 2_000 });
  const atMs = Date.now();
  if (res.error !== null || res.status !== 200) return { atMs, value: `status ${res.status} ${res.error}` };
  return { atMs, value: (JSON.parse(res.text) as { workersAlive: number }).workersAlive };
}

/** The values in time order, each run of equal values kept once. */
function changes(seen: Observation[]): Array<number | string> {
  return seen
    .sort((a, b) => a.atMs - b.atMs)
    .map((o) => o.value)
    .filter((v, i, all) => i === 0 || all[i - 1] !== v);
}

test('/healthz reports workersAlive 2, then 1 after kill -9 of a worker, then 2 again', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const mock = await startMockBackend(t);
  const running = await startCluster(t, ['--workers', '2', '--backend-url', mock.url, '--metrics-port', '0', '--access-log', 'off']);
  const primaryHealth = `${await metricsPortUrl(running)}/healthz`;
  const mainHealth = `${running.url}/healthz`;

  // Both workers answer on the main port, and say 2.
  const first = await Promise.all(Array.from({ length: 6 }, () => observe(mainHealth)));
  assert.deepEqual(
    first.map((o) => o.value),
    [2, 2, 2, 2, 2, 2],
  );
  assert.equal((await observe(primaryHealth)).value, 2);

  // Fresh connections, 3 pollers on the main port (one may be stuck on a connection handed to the victim)
  // and 1 on the primary's port, from just before the kill until the replacement has listened a while.
  const [victim] = await childrenOf(running.child.pid as number);
  const mainSeen: Observation[] = [];
  const primarySeen: Observation[] = [];
  let polling = true;
  t.after(() => {
    polling = false;
  });
  const poll = async (url: string, seen: Observation[]) => {
    while (polling) {
      seen.push(await observe(url));
      // A sampling period: the pollers record what /healthz said over time.
      await delay(10);
    }
  };
  const pollers = [poll(mainHealth, mainSeen), poll(mainHealth, mainSeen), poll(mainHealth, mainSeen), poll(primaryHealth, primarySeen)];
  await eventually('every poller has answers from before the kill', () => mainSeen.length >= 3 && primarySeen.length >= 1);
  const killedAt = Date.now();
  process.kill(victim as number, 'SIGKILL');
  const died = await running.waitForLine((line) => line.msg === 'worker died, restarting it' && line.worker_pid === victim);
  const diedIndex = running.lines.indexOf(died);
  const listening = await running.waitForLine((line) => line.msg === 'worker listening' && running.lines.indexOf(line) > diedIndex);
  // Once the replacement listens (plus a margin for the state broadcast), every answer is 2 again.
  const settledFrom = lineTimeMs(listening) + BROADCAST_MARGIN_MS;
  const settled = (seen: Observation[]) => seen.filter((o) => o.atMs > settledFrom).length;
  await eventually(
    'every poller has answers from after the replacement settled',
    () => settled(mainSeen) >= 3 && settled(primarySeen) >= 3,
  );
  polling = false;
  await Promise.all(pollers);

  t.diagnostic(`main port: ${JSON.stringify(changes(mainSeen))}; primary port: ${JSON.stringify(changes(primarySeen))}`);

  assert.deepEqual(changes(primarySeen), [2, 1, 2], 'the primary saw 2 -> 1 -> 2');
  assert.ok(
    mainSeen.some((o) => o.atMs > killedAt && o.value === 1),
    'the surviving worker reported 1',
  );
  const late = mainSeen.filter((o) => o.atMs > settledFrom && typeof o.value === 'number');
  assert.ok(late.length > 0);
  assert.deepEqual([...new Set(late.map((o) => o.value))], [2]);
  const after = await Promise.all(Array.from({ length: 6 }, () => observe(mainHealth)));
  assert.deepEqual(
    after.map((o) => o.value),
    [2, 2, 2, 2, 2, 2],
  );

  // A replacement worker answers with what the primary knew at fork time until the first broadcast (it used
  // to say 0), and no poll is left hanging by the kill.
  const wrong = mainSeen.filter((o) => typeof o.value === 'number' && o.value !== 1 && o.value !== 2);
  assert.deepEqual(wrong, [], 'workersAlive is always 1 or 2');
  const hung = mainSeen.filter((o) => typeof o.value === 'string' && /Timeout|aborted/i.test(o.value));
  assert.deepEqual(hung, [], 'no /healthz poll hung');
});
