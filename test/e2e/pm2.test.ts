import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { test } from 'node:test';
import { freePort } from '../../support/ports.js';
import { childrenOf, ROOT, run, waitGone } from '../../support/processes.js';
import { eventually } from '../../support/wait.js';
import { send } from '../helpers/http.js';
import { startMockBackend } from '../helpers/mock-backend.js';
import { MAIN } from '../helpers/start-proxy.js';

// Real pm2 (the project dependency) with a temporary PM2_HOME: its own daemon, never the user's.
const PM2 = join(ROOT, 'node_modules', '.bin', 'pm2');
const TEST = { timeout: 90_000 };
const PM2_TIMEOUT_MS = 45_000;
/** ecosystem.config.js kill_timeout is 40 s; an idle proxy stops in well under a second. */
const GONE_TIMEOUT_MS = 45_000;
const CLUSTER_REFUSAL = 'started as a cluster worker of another primary (pm2 cluster mode?)';

interface Pm2Process {
  name: string;
  pid: number;
  pm2_env: { exec_mode: string; status: string; exit_code?: number; pm_err_log_path: string; restart_time: number };
}

/** pm2 commands start node processes; polling them faster only adds load. */
const POLL = { everyMs: 200 };

interface Health {
  httpStatus: number;
  workersAlive: number;
  pid: number;
  backends: Array<{ url: string }>;
}

async function healthOf(port: number): Promise<Health> {
  const res = await send(`http://127.0.0.1:${port}/healthz`);
  return { httpStatus: res.status, ...(JSON.parse(res.text) as Omit<Health, 'httpStatus'>) };
}

/** A --config file with these backends, as the README shows it. */
const fleetYaml = (urls: string[]): string => `backends:\n${urls.map((url) => `  - url: ${url}\n`).join('')}`;

/**
 * A pm2 bound to a fresh PM2_HOME. t.after runs `pm2 kill` (daemon and apps), then SIGKILLs
 * every pid the test learned and the daemon if anything survived, then removes the directory.
 */
async function pm2Home(t: TestContext, extraEnv: Record<string, string> = {}) {
  const home = await mkdtemp(join(tmpdir(), 'pm2-home-'));
  const env = { PM2_HOME: home, ...extraEnv };
  const pids = new Set<number>();
  const pm2 = (args: string[]) => run(PM2, args, env, PM2_TIMEOUT_MS);
  t.after(async () => {
    const daemon = Number(await readFile(join(home, 'pm2.pid'), 'utf8').catch(() => '0'));
    if (daemon > 0) pids.add(daemon);
    await pm2(['kill']).catch(() => undefined);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await waitGone([...pids], 5_000);
    await rm(home, { recursive: true, force: true });
  });
  const jlist = async (): Promise<Pm2Process[]> => {
    const result = await pm2(['jlist']);
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout) as Pm2Process[];
  };
  return { home, pm2, jlist, pids };
}

test(
  'pm2 start ecosystem.config.js: one fork-mode primary with its workers and BACKEND_URL’s list, ready when pm2 returns; delete leaves nothing',
  TEST,
  async (t) => {
    const backends = [await startMockBackend(t), await startMockBackend(t)];
    const port = await freePort();
    const { pm2, jlist, pids } = await pm2Home(t, {
      BACKEND_URL: backends.map((backend) => backend.url).join(','),
      HOST: '127.0.0.1',
      PORT: String(port),
      WORKERS: '2',
    });

    const started = await pm2(['start', 'ecosystem.config.js']);
    assert.equal(started.code, 0, started.stdout + started.stderr);

    const list = await jlist();
    assert.equal(list.length, 1, JSON.stringify(list.map((p) => p.name)));
    const [app] = list;
    assert.equal(app!.name, 'inference-proxy');
    assert.equal(app!.pm2_env.exec_mode, 'fork_mode');
    assert.equal(app!.pm2_env.status, 'online');
    const primary = app!.pid;
    assert.ok(primary > 0);
    pids.add(primary);

    // wait_ready: pm2 returned only after every worker listened. The worker count the workers report
    // travels over IPC, so give it a moment, not a startup's worth.
    const health = await eventually(
      'healthz with 2 workers',
      () => healthOf(port),
      (answer) => answer.httpStatus === 200 && answer.workersAlive === 2,
      { ...POLL, timeoutMs: 3_000 },
    );
    assert.deepEqual(
      health.backends.map((backend) => backend.url),
      backends.map((backend) => backend.url),
      'each URL of the comma-separated BACKEND_URL is a backend',
    );
    const workers = await childrenOf(primary);
    for (const pid of workers) pids.add(pid);
    assert.equal(workers.length, 2, `workers of ${primary}: ${workers.join(' ')}`);
    assert.ok(workers.includes(health.pid), `healthz answered by ${health.pid}, not a worker of ${primary}`);

    const deleted = await pm2(['delete', 'all']);
    assert.equal(deleted.code, 0, deleted.stdout + deleted.stderr);
    assert.deepEqual(await waitGone([primary, ...workers], GONE_TIMEOUT_MS), [], 'processes left after pm2 delete');
    assert.deepEqual(await jlist(), []);
  },
);

test(
  'pm2 sendSignal SIGHUP re-reads the CONFIG file and replaces the workers under the same primary; pm2 stop leaves nothing',
  TEST,
  async (t) => {
    const [first, second] = [await startMockBackend(t), await startMockBackend(t)];
    const port = await freePort();
    const dir = await mkdtemp(join(tmpdir(), 'pm2-config-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const config = join(dir, 'fleet.yaml');
    await writeFile(config, fleetYaml([first.url]));
    const { pm2, jlist, pids } = await pm2Home(t, { CONFIG: config, HOST: '127.0.0.1', PORT: String(port), WORKERS: '2' });
    const started = await pm2(['start', 'ecosystem.config.js']);
    assert.equal(started.code, 0, started.stdout + started.stderr);
    const [app] = await jlist();
    const primary = app!.pid;
    pids.add(primary);
    const before = await eventually(
      '2 workers',
      () => childrenOf(primary),
      (pids) => pids.length === 2,
      { ...POLL, timeoutMs: 5_000 },
    );
    for (const pid of before) pids.add(pid);

    const backendsNow = async () => (await healthOf(port)).backends.map((backend) => backend.url);
    assert.deepEqual(await backendsNow(), [first.url], 'the backends come from the CONFIG file');

    // The zero-downtime path under pm2 (pm2 reload in fork mode would restart the primary); the new file
    // is read on the signal.
    await writeFile(config, fleetYaml([first.url, second.url]));
    const signalled = await pm2(['sendSignal', 'SIGHUP', 'inference-proxy']);
    assert.equal(signalled.code, 0, signalled.stdout + signalled.stderr);
    const after = await eventually(
      'both workers replaced',
      async () => {
        const now = await childrenOf(primary);
        for (const pid of now) pids.add(pid);
        return now;
      },
      (now) => now.length === 2 && now.every((pid) => !before.includes(pid)),
      { ...POLL, timeoutMs: 20_000 },
    );
    assert.equal((await jlist())[0]?.pid, primary, 'the primary stayed');
    assert.equal((await send(`http://127.0.0.1:${port}/healthz`)).status, 200);
    assert.deepEqual(await backendsNow(), [first.url, second.url], 'the backend added to the file');

    const stopped = await pm2(['stop', 'inference-proxy']);
    assert.equal(stopped.code, 0, stopped.stdout + stopped.stderr);
    assert.deepEqual(await waitGone([primary, ...after], GONE_TIMEOUT_MS), [], 'processes left after pm2 stop');
    assert.equal((await jlist())[0]?.pm2_env.status, 'stopped');
  },
);

test('pm2 cluster mode is refused with a one-line explanation and does not stay online', TEST, async (t) => {
  const { pm2, jlist, pids } = await pm2Home(t);

  // --no-autorestart: the instances stop at their first exit instead of pm2's ~15 restarts, which take
  // longer than any fixed bound on a loaded machine.
  const started = await pm2(['start', MAIN, '-i', '2', '--name', 'proxy-cluster', '--no-autorestart']);
  assert.equal(started.code, 0, started.stdout + started.stderr);

  const list = await eventually(
    'every instance errored or stopped',
    async () => {
      const procs = await jlist();
      for (const p of procs) if (p.pid > 0) pids.add(p.pid);
      return procs;
    },
    (procs) => procs.length === 2 && procs.every((p) => p.pm2_env.status === 'errored' || p.pm2_env.status === 'stopped'),
    { ...POLL, timeoutMs: 30_000 },
  );
  for (const p of list) {
    assert.equal(p.pm2_env.exec_mode, 'cluster_mode');
    assert.equal(p.pm2_env.exit_code, 2, `${p.name}: ${JSON.stringify(p.pm2_env)}`);
    const errLog = await readFile(p.pm2_env.pm_err_log_path, 'utf8');
    assert.ok(errLog.includes(CLUSTER_REFUSAL), errLog);
    assert.ok(
      errLog
        .split('\n')
        .filter(Boolean)
        .every((line) => line.includes(CLUSTER_REFUSAL)),
      `one line per attempt, nothing else:\n${errLog}`,
    );
  }
});
