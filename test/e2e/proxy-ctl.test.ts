import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { test } from 'node:test';
import { createMockBackend, type MockBackend } from '../../src/mock-backend/create-mock-backend.js';
import { freePort } from '../../support/ports.js';
import { childrenOf, ROOT, type Run, run, waitGone } from '../../support/processes.js';
import { eventually } from '../../support/wait.js';
import { postChat } from '../helpers/fleet.js';
import { send } from '../helpers/http.js';

// Real processes: proxy_ctl.sh starts the built proxy (dist/) in the background.
const CTL = join(ROOT, 'proxy_ctl.sh');
const TEST = { timeout: 90_000 };
/** proxy_ctl.sh waits at most 30 s for a start and 40 s (+ 5 s after SIGKILL) for a stop. */
const CTL_TIMEOUT_MS = 60_000;
const GONE_TIMEOUT_MS = 10_000;
const CHAT_BODY = JSON.stringify({ model: 'mock-model', max_tokens: 4, messages: [{ role: 'user', content: 'hi' }] });
const TABLE_HEAD = 'backends: 1 up (share of the requests answered in the last 60 s, p50 time to first token over the last 30 s)';
/** Well inside the TTFT bucket (0.1, 0.25] s: every p50 is its midpoint by interpolation, 0.175 s. */
const MOCK_TTFT_MS = 120;

const ctl = (command: string[], env: Record<string, string>): Promise<Run> => run('bash', [CTL, ...command], env, CTL_TIMEOUT_MS);

function killAll(pids: Iterable<number>): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * The backends table of `status`, from its heading on: the heading, then each row's cells (split where two
 * or more spaces align the columns).
 */
function backendTable(stdout: string): { heading: string; rows: string[][] } {
  const lines = stdout
    .slice(stdout.indexOf('\nbackends: ') + 1)
    .trimEnd()
    .split('\n');
  return { heading: lines[0] as string, rows: lines.slice(1).map((line) => line.trim().split(/ {2,}/)) };
}

/** Mock backends (one unless told), free proxy port and temporary run dir; stops the proxy and cleans up in t.after. */
async function setup(t: TestContext, backends = 1) {
  const mocks = await Promise.all(Array.from({ length: backends }, () => createMockBackend({ port: 0, ttftMs: MOCK_TTFT_MS })));
  const backend = mocks[0] as MockBackend;
  const runDir = await mkdtemp(join(tmpdir(), 'proxy-ctl-'));
  const port = await freePort();
  const env = {
    BACKEND_URL: mocks.map((mock) => mock.url).join(','),
    HOST: '127.0.0.1',
    PORT: String(port),
    WORKERS: '2',
    RUN_DIR: runDir,
    LOG_FILE: join(runDir, 'proxy.log'),
    PID_FILE: join(runDir, 'proxy.pid'),
  };
  /** Every pid the test learned: SIGKILLed in t.after if proxy_ctl.sh stop left any. */
  const pids = new Set<number>();
  t.after(async () => {
    await ctl(['stop'], env).catch(() => undefined);
    killAll(pids);
    await waitGone([...pids], GONE_TIMEOUT_MS);
    await Promise.all(mocks.map((mock) => mock.close()));
    await rm(runDir, { recursive: true, force: true });
  });
  return { backend, mocks, env, runDir, port, pids, pidFile: env.PID_FILE, url: `http://127.0.0.1:${port}` };
}

test('proxy_ctl.sh start, status, stop: idempotent, healthy, and nothing left behind', TEST, async (t) => {
  const { env, port, pids, pidFile, url, backend } = await setup(t);

  const started = await ctl(['start'], env);
  assert.equal(started.code, 0, started.stdout + started.stderr);
  const primary = Number((await readFile(pidFile, 'utf8')).trim());
  pids.add(primary);
  assert.equal(started.stdout.trim(), `started inference-proxy (pid ${primary}) on 127.0.0.1:${port} -> ${backend.url}`);
  const workers = await childrenOf(primary);
  for (const pid of workers) pids.add(pid);
  assert.equal(workers.length, 2, `workers of ${primary}: ${workers.join(' ')}`);

  const chat = await send(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: CHAT_BODY,
  });
  assert.equal(chat.status, 200, chat.text);
  assert.ok(typeof (JSON.parse(chat.text) as { usage?: unknown }).usage === 'object', chat.text);

  const again = await ctl(['start'], env);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.match(again.stdout, new RegExp(`already running \\(pid ${primary}\\)`));

  const status = await ctl(['status'], env);
  assert.equal(status.code, 0, status.stdout + status.stderr);
  assert.match(status.stdout, new RegExp(`running \\(pid ${primary}\\)`));
  assert.match(status.stdout, /workers alive: 2\b/);
  assert.match(status.stdout, /^workers alive: 2, uptime: \d+ s, configuration generation 1$/m);
  assert.match(status.stdout, /^workers: 2 alive: #\d+ pid \d+ ready up \d+s, #\d+ pid \d+ ready up \d+s$/m);
  assert.match(status.stdout, /^traffic: \d+ in flight \(limit \d+\), [\d.]+ req\/s in, [\d.]+ req\/s out/m);
  assert.match(status.stdout, /^time to first token: /m);
  // One completion, not streamed: all of the minute's requests, and no time to first token.
  assert.deepEqual(backendTable(status.stdout), {
    heading: TABLE_HEAD,
    rows: [
      ['backend', 'state', 'in flight', 'share', 'p50 TTFT'],
      [backend.url, 'up', '0', '100%', '-'],
      ['proxy (no backend)', '-', '0', '0%', '-'],
    ],
  });

  const stopped = await ctl(['stop'], env);
  assert.equal(stopped.code, 0, stopped.stdout + stopped.stderr);
  assert.equal(stopped.stdout.trim(), `stopped inference-proxy (pid ${primary})`);
  // stop returns once the primary and its workers are gone; allow only a short grace for the check.
  assert.deepEqual(await waitGone([primary, ...workers], 2_000), [], 'processes left after stop');

  const stopAgain = await ctl(['stop'], env);
  assert.equal(stopAgain.code, 0, stopAgain.stdout + stopAgain.stderr);
  assert.match(stopAgain.stdout, /not running/);

  const statusAfter = await ctl(['status'], env);
  assert.equal(statusAfter.code, 3, statusAfter.stdout + statusAfter.stderr);
  assert.match(statusAfter.stdout, /not running/);
});

test(
  'proxy_ctl.sh with BACKEND_URL a list and a CONFIG file: status shows each backend’s state, in-flight, share of the minute and p50 TTFT',
  TEST,
  async (t) => {
    const { env, mocks, runDir, port, pids, pidFile, url } = await setup(t, 2);
    const [a, b] = mocks as [MockBackend, MockBackend];
    // Flags from the file, backends from BACKEND_URL (which replace a backends: list, were there one).
    const config = join(runDir, 'fleet.yaml');
    await writeFile(config, 'routing: round-robin\nhealth-interval: 100\nunhealthy-threshold: 1\n');
    // Ring points every second: the shares below add up the history's points and the scrape's own tail.
    const fleetEnv = { ...env, WORKERS: '1', CONFIG: config, INFERENCE_PROXY_DASHBOARD_SAMPLE_INTERVAL: '1000' };
    const started = await ctl(['start'], fleetEnv);
    assert.equal(started.code, 0, started.stdout + started.stderr);
    const primary = Number((await readFile(pidFile, 'utf8')).trim());
    pids.add(primary);
    for (const pid of await childrenOf(primary)) pids.add(pid);
    assert.equal(started.stdout.trim(), `started inference-proxy (pid ${primary}) on 127.0.0.1:${port} -> ${a.url},${b.url}`);

    const streamed = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++) assert.equal((await postChat(url, { stream: true })).status, 200);
    };
    const received = (): number[] => mocks.map((mock) => mock.stats.completionRequests);
    const states = async (): Promise<string[]> => {
      const health = JSON.parse((await send(`${url}/healthz`)).text) as { backends: Array<{ state: string }> };
      return health.backends.map((backend) => backend.state);
    };
    // Round-robin on one worker (the file's): 2 and 2. Then b fails its health checks and a takes the next 2.
    await streamed(4);
    assert.deepEqual(received(), [2, 2]);
    b.control({ health: 503 });
    await eventually('b down', states, (seen) => seen.join() === 'up,down');
    await streamed(2);
    assert.deepEqual(received(), [4, 2]);

    const rowsOf = (stateA: string, stateB: string): string[][] => {
      const rows = [
        [a.url, stateA, '0', '67%', '0.175 s'],
        [b.url, stateB, '0', '33%', '0.175 s'],
      ].sort((x, y) => ((x[0] as string) < (y[0] as string) ? -1 : 1));
      return [['backend', 'state', 'in flight', 'share', 'p50 TTFT'], ...rows, ['proxy (no backend)', '-', '0', '0%', '-']];
    };
    const status = await ctl(['status'], fleetEnv);
    assert.equal(status.code, 0, status.stdout + status.stderr);
    // The list reached the proxy as one --backend-url value, intact.
    assert.equal(status.stdout.split('\n')[0], `inference-proxy is running (pid ${primary}) on 127.0.0.1:${port} -> ${a.url},${b.url}`);
    assert.deepEqual(backendTable(status.stdout), { heading: TABLE_HEAD.replace('1 up', '1 up, 1 down'), rows: rowsOf('up', 'down') });

    // No backend up: the proxy runs (panic mode), /healthz says 503, and status says so with exit 4, table and all.
    a.control({ health: 503 });
    await eventually('both down', states, (seen) => seen.join() === 'down,down');
    const down = await ctl(['status'], fleetEnv);
    assert.equal(down.code, 4, down.stdout + down.stderr);
    assert.match(down.stdout, /^primary pid \d+, up \d+s, status no_backend_up \(HTTP 503\)$/m);
    assert.deepEqual(backendTable(down.stdout), { heading: TABLE_HEAD.replace('1 up', '2 down'), rows: rowsOf('down', 'down') });
  },
);

test('proxy_ctl.sh start with a bad backend URL fails with the proxy’s one line and exit 2', TEST, async (t) => {
  const { env, pidFile } = await setup(t);

  // Refused by the proxy's own check before anything starts: its one line and its exit code.
  const started = await ctl(['start'], { ...env, BACKEND_URL: 'ftp://x' });
  assert.equal(started.code, 2, started.stdout + started.stderr);
  assert.equal(started.stderr, 'inference-proxy: --backend-url: expected http:// or https://, got ftp:\n');
  await assert.rejects(readFile(pidFile, 'utf8'), { code: 'ENOENT' });

  const status = await ctl(['status'], env);
  assert.equal(status.code, 3, status.stdout + status.stderr);
});

test('proxy_ctl.sh: unknown command prints usage and exits 2', TEST, async () => {
  const result = await ctl(['frobnicate'], {});
  assert.equal(result.code, 2);
  assert.match(result.stderr, /usage: proxy_ctl\.sh start\|stop\|restart\|reload\|check\|status\|logs/);
});

/** The proxy's /healthz as JSON. */
const healthOf = async (url: string) =>
  JSON.parse((await send(`${url}/healthz`)).text) as {
    config: { generation: number; reloads: number; lastReload: { result: string; error: string | null } | null };
    backends: Array<{ url: string }>;
  };

test(
  'proxy_ctl.sh check runs the proxy’s --check-config on what start would use: exit 0 with where it listens, 2 with one line',
  TEST,
  async (t) => {
    const { env, runDir, port, backend } = await setup(t);
    const config = join(runDir, 'fleet.yaml');
    await writeFile(config, `routing: round-robin\nbackends:\n  - url: ${backend.url}\n    models: []\n`);
    const good = await ctl(['check'], { ...env, BACKEND_URL: '', CONFIG: config });
    assert.equal(good.code, 0, good.stdout + good.stderr);
    assert.equal(
      good.stdout.trim(),
      `inference-proxy: configuration OK: listen 127.0.0.1:${port}, 2 workers, metrics port off, 1 backends: ${backend.url}`,
    );
    assert.match(good.stderr, /^inference-proxy: warning: .*models: \[\] lists no model/);

    await writeFile(config, '# being rewritten\n');
    const bad = await ctl(['check'], { ...env, BACKEND_URL: '', CONFIG: config });
    assert.equal(bad.code, 2, bad.stdout + bad.stderr);
    assert.equal(bad.stdout, '');
    assert.equal(
      bad.stderr.trim(),
      `inference-proxy: ${config}: no backends: list them under backends: (or backend-url:) in the file, or give --backend-url`,
    );
    // start refuses it the same way, before anything runs.
    const start = await ctl(['start'], { ...env, BACKEND_URL: '', CONFIG: config });
    assert.equal(start.code, 2, start.stdout + start.stderr);
    assert.equal(start.stderr.trim(), bad.stderr.trim());
  },
);

test(
  'proxy_ctl.sh with the address in the CONFIG file (HOST, PORT unset); reload waits for the verdict: applied, or rejected with the reason',
  TEST,
  async (t) => {
    const { env, mocks, runDir, port, pids, pidFile, url } = await setup(t, 2);
    const [a, b] = mocks as [MockBackend, MockBackend];
    const config = join(runDir, 'fleet.yaml');
    const fleet = (urls: string[]) =>
      `host: 127.0.0.1\nport: ${port}\nworkers: 1\nbackends:\n${urls.map((u) => `  - url: ${u}\n`).join('')}`;
    await writeFile(config, fleet([a.url]));
    // Unset: the file's host:, port: and workers: apply (before, the script always passed --host 0.0.0.0 --port 8001).
    const fileEnv = { ...env, HOST: '', PORT: '', WORKERS: '', BACKEND_URL: '', CONFIG: config };
    const started = await ctl(['start'], fileEnv);
    assert.equal(started.code, 0, started.stdout + started.stderr);
    const primary = Number((await readFile(pidFile, 'utf8')).trim());
    pids.add(primary);
    assert.equal(started.stdout.trim(), `started inference-proxy (pid ${primary}) on 127.0.0.1:${port} -> the backends of ${config}`);
    assert.deepEqual((await healthOf(url)).config, { generation: 1, reloads: 0, lastReload: null });

    // A few seconds of primary uptime before the workers are replaced: status must report the primary's.
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    await writeFile(config, fleet([a.url, b.url]));
    const applied = await ctl(['reload'], fileEnv);
    assert.equal(applied.code, 0, applied.stdout + applied.stderr);
    assert.match(applied.stdout, new RegExp(`reloaded inference-proxy \\(pid ${primary}\\): configuration generation 2 in force`));
    for (const pid of await childrenOf(primary)) pids.add(pid);
    const health = await healthOf(url);
    assert.deepEqual(
      health.backends.map((backend) => backend.url),
      [a.url, b.url],
    );
    assert.equal(health.config.generation, 2);
    assert.equal(health.config.lastReload?.result, 'applied');

    const status = await ctl(['status'], fileEnv);
    assert.equal(status.code, 0, status.stdout + status.stderr);
    assert.match(status.stdout, new RegExp(`^inference-proxy is running \\(pid ${primary}\\) on 127\\.0\\.0\\.1:${port} `, 'm'));
    const uptime = Number(/^workers alive: 1, uptime: (\d+) s, configuration generation 2$/m.exec(status.stdout)?.[1]);
    const primaryUp = Number(/^primary pid \d+, up (\d+)s/m.exec(status.stdout)?.[1]);
    const workerUp = Number(/^workers: 1 alive: #\d+ pid \d+ ready up (\d+)s$/m.exec(status.stdout)?.[1]);
    // The proxy's uptime, not the newest worker's (the script read the last "uptimeSeconds" of the JSON). The
    // script's line is read before the report's, so it can only be the smaller of the primary's two readings;
    // the worker started over 4 s after the primary, so its uptime is below either, however long between them.
    assert.ok(uptime <= primaryUp && uptime > workerUp, status.stdout);

    // A truncated file: rejected, with the reason, and the fleet stays as it was.
    await writeFile(config, '');
    const rejected = await ctl(['reload'], fileEnv);
    assert.equal(rejected.code, 6, rejected.stdout + rejected.stderr);
    assert.equal(
      rejected.stderr.trim(),
      `inference-proxy: reload rejected, generation 2 still in force: ${config}: no backends: list them under backends: (or backend-url:) in the file, or give --backend-url`,
    );
    const after = await healthOf(url);
    assert.deepEqual(after.config, {
      generation: 2,
      reloads: 2,
      lastReload: { ...after.config.lastReload, result: 'rejected', error: rejected.stderr.trim().split('still in force: ')[1] },
    });
    assert.deepEqual(
      after.backends.map((backend) => backend.url),
      [a.url, b.url],
    );
    assert.equal((await postChat(url)).status, 200);
  },
);
