import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Run, run } from '../../support/processes.js';

export const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 20_000;

export interface LogLine {
  msg?: string;
  [key: string]: unknown;
}

export interface RunningProxy {
  readonly child: ChildProcess;
  readonly port: number;
  readonly url: string;
  readonly lines: LogLine[];
  readonly stderr: string[];
  /** Resolves with the first log line (already seen or future) matching `match`, or rejects after `timeoutMs`. */
  waitForLine(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Sends `signal` and resolves with the exit code; SIGKILL after a bound. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Background traffic the fleet keeper sends to backends (health checks, model discovery, engine reads) is off unless a
 * test asks for it with the flag: tests that count what a backend receives stay exact.
 */
export const QUIET_FLEET_ENV: Readonly<Record<string, string>> = {
  INFERENCE_PROXY_HEALTH_INTERVAL: '0',
  INFERENCE_PROXY_DISCOVERY_INTERVAL: '0',
  INFERENCE_PROXY_LOAD_INTERVAL: '0',
};

/** Where the proxy to start is: the build of this checkout unless told (an installed copy elsewhere). */
export interface ProxyInstall {
  /** Its entry point (dist/src/main.js). */
  readonly main: string;
  /** The working directory it runs in. */
  readonly cwd?: string;
}

/** Starts the real proxy (primary + workers) as a child process on a random loopback port. */
export async function startProxy(args: string[], env: Record<string, string> = {}, install?: ProxyInstall): Promise<RunningProxy> {
  const child = spawn(process.execPath, [install?.main ?? MAIN, '--host', '127.0.0.1', '--port', '0', ...args], {
    cwd: install?.cwd,
    env: { ...process.env, ...QUIET_FLEET_ENV, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  const stderr: string[] = [];
  const waiters = new Set<{ match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }>();
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      line = { msg: text };
    }
    lines.push(line);
    for (const waiter of waiters) if (waiter.match(line)) waiter.resolve(line);
  });
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (text) => stderr.push(text));

  const waitForLine = (match: (line: LogLine) => boolean, timeoutMs = READY_TIMEOUT_MS): Promise<LogLine> => {
    const seen = lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (line: LogLine) => {
          clearTimeout(timer);
          waiters.delete(waiter);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`no matching log line within ${timeoutMs} ms; stderr: ${stderr.join('\n')}`));
      }, timeoutMs);
      waiters.add(waiter);
    });
  };

  let exited: Promise<number | null> | null = null;
  const exitPromise = (): Promise<number | null> => {
    exited ??=
      child.exitCode !== null || child.signalCode !== null
        ? Promise.resolve(child.exitCode)
        : once(child, 'exit').then(([code]) => code as number | null);
    return exited;
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    const done = exitPromise();
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    try {
      return await done;
    } finally {
      clearTimeout(timer);
    }
  };

  try {
    const ready = await Promise.race([
      waitForLine((line) => line.msg === 'proxy ready'),
      exitPromise().then((code) => {
        throw new Error(`proxy exited with ${code} before it was ready; stderr: ${stderr.join('\n')}`);
      }),
    ]);
    const port = ready.port as number;
    return { child, port, url: `http://127.0.0.1:${port}`, lines, stderr, waitForLine, stop };
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
}

/** startProxy for one test: stopped when the test ends, whatever its outcome. */
export async function startCluster(
  t: TestContext,
  args: string[],
  env: Record<string, string> = {},
  install?: ProxyInstall,
): Promise<RunningProxy> {
  const running = await startProxy(args, env, install);
  t.after(() => running.stop());
  return running;
}

/** The base URL of the primary's --metrics-port server, once its log line says where it listens. */
export async function metricsPortUrl(running: RunningProxy): Promise<string> {
  const line = await running.waitForLine((l) => l.msg === 'metrics port listening');
  return `http://127.0.0.1:${line.port as number}`;
}

/** When a log line was written (pino's ISO time), in ms since the epoch. */
export const lineTimeMs = (line: LogLine): number => Date.parse(String(line.time));

/** Runs the CLI to completion (for --help and bad flags) and returns its exit code and output. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return run(process.execPath, [MAIN, ...args], env, READY_TIMEOUT_MS);
}
