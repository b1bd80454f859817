import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { test } from 'node:test';
import { createMockBackend } from '../../src/mock-backend/create-mock-backend.js';
import { send } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';
import { childrenOf, ROOT, type Run, run, waitGone } from '../helpers/processes.js';

// Real processes: proxy_ctl.sh starts the built proxy (dist/) in the background.
const CTL = join(ROOT, 'proxy_ctl.sh');
const TEST = { timeout: 90_000 };
/** proxy_ctl.sh waits at most 30 s for a start and 40 s (+ 5 s after SIGKILL) for a stop. */
const CTL_TIMEOUT_MS = 60_000;
const GONE_TIMEOUT_MS = 10_000;
const CHAT_BODY = JSON.stringify({ model: 'mock-model', max_tokens: 4, messages: [{ role: 'user', content: 'hi' }] });

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

/** Mock backend, free proxy port and temporary run dir; stops the proxy and cleans up in t.after. */
async function setup(t: TestContext) {
  const backend = await createMockBackend({ port: 0 });
  const runDir = await mkdtemp(join(tmpdir(), 'proxy-ctl-'));
  const port = await freePort();
  const env = {
    BACKEND_URL: backend.url,
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
    await backend.close();
    await rm(runDir, { recursive: true, force: true });
  });
  return { backend, env, port, pids, pidFile: env.PID_FILE, url: `http://127.0.0.1:${port}` };
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
  assert.match(status.stdout, /^workers alive: 2, uptime: \d+ s$/m);
  assert.match(status.stdout, /^workers: 2 alive: #\d+ pid \d+ ready up \d+s, #\d+ pid \d+ ready up \d+s$/m);
  assert.match(status.stdout, /^traffic: \d+ in flight \(limit \d+\), [\d.]+ req\/s in, [\d.]+ req\/s out/m);
  assert.match(status.stdout, /^time to first token: /m);
  assert.match(status.stdout, /^backend http:\/\/127\.0\.0\.1:\d+: reachable \(GET \/health 200 in \d+ ms\)$/m);

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

test('proxy_ctl.sh start with a bad backend URL fails and prints the log tail', TEST, async (t) => {
  const { env, pidFile } = await setup(t);

  const started = await ctl(['start'], { ...env, BACKEND_URL: 'ftp://x' });
  assert.notEqual(started.code, 0, started.stdout + started.stderr);
  assert.match(started.stderr, /failed to start/);
  assert.match(started.stderr, /exited with code 2/);
  assert.match(started.stderr, /inference-proxy: --backend-url: expected http:\/\/ or https:\/\//);
  await assert.rejects(readFile(pidFile, 'utf8'), { code: 'ENOENT' });

  const status = await ctl(['status'], env);
  assert.equal(status.code, 3, status.stdout + status.stderr);
});

test('proxy_ctl.sh: unknown command prints usage and exits 2', TEST, async () => {
  const result = await ctl(['frobnicate'], {});
  assert.equal(result.code, 2);
  assert.match(result.stderr, /usage: proxy_ctl\.sh start\|stop\|restart\|reload\|status\|logs/);
});
