import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { ROOT } from '../../support/processes.js';
import { eventually } from '../../support/wait.js';

const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 15_000;
const READY_POLL_MS = 50;

/** A long-lived process the bench started: the backend, a proxy under test, or the soak's proxy. */
export interface Server {
  name: string;
  /** Root pid: the backend, or the proxy's cluster primary (its workers are its children). */
  pid: number;
  url: string;
  /** stdout and stderr of the process go to this file. */
  logPath: string;
  /** Where its access log goes (grows per request), or null when it keeps none. */
  accessLogPath: string | null;
  command: string;
  stop(): Promise<number | null>;
}

export interface ChildOptions {
  name: string;
  file: string;
  args: readonly string[];
  logPath: string;
  /** Returns the URL the server answers on once it is ready, null before. */
  probe: () => Promise<string | null> | string | null;
  accessLogPath?: string | null;
  /** Added to the bench's own environment (the soak's NODE_OPTIONS for the inspector). */
  env?: Readonly<Record<string, string>>;
}

/** Every child still running, each the leader of its own process group (spawned detached). */
const live = new Set<ChildProcess>();

/** Last resort (error, signal, exit): SIGKILL each child's process group, the proxy workers included. */
export function killAllNow(): void {
  for (const child of live) killGroup(child, 'SIGKILL');
  live.clear();
}

/**
 * The children run in process groups of their own, so a terminal's signal does not reach them: on SIGINT,
 * SIGTERM or SIGHUP, and at any exit, kill them all and remove the work directory (`workDir()`, if any).
 */
export function killChildrenAtExit(tag: string, workDir: () => string | null): void {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      console.error(`${tag}: ${signal}, killing child processes`);
      killAllNow();
      process.exit(130);
    });
  }
  process.once('exit', () => {
    killAllNow();
    const dir = workDir();
    if (dir !== null) rmSync(dir, { recursive: true, force: true });
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // ESRCH: already gone
  }
}

/**
 * Spawns `file <args>` with stdout and stderr appended to logPath (a file, not a pipe: the bench
 * process is also the load generator and must not spend CPU draining the access log), then polls
 * `probe` until it returns the URL the server answers on.
 */
export async function startChild(options: ChildOptions): Promise<Server> {
  const { name, file, args, logPath } = options;
  const fd = openSync(logPath, 'a');
  const child = spawn(file, args, { stdio: ['ignore', fd, fd], detached: true, env: { ...process.env, ...options.env } });
  closeSync(fd);
  live.add(child);
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code, signal) => {
      exitCode = code ?? (signal === null ? null : -1);
      resolve(exitCode);
    });
  });
  const url = await waitReady(name, child, logPath, options.probe, () => exitCode);
  const stop = async (): Promise<number | null> => {
    if (exitCode === undefined) {
      killGroup(child, 'SIGTERM');
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    killGroup(child, 'SIGKILL'); // any straggler left in the group
    live.delete(child);
    return exitCode ?? null;
  };
  const command = describe(file, args, logPath);
  return { name, pid: child.pid!, url, logPath, accessLogPath: options.accessLogPath ?? null, command, stop };
}

/** The URL once `probe` finds it; fails at once when the child exits first, with the end of its log. */
async function waitReady(
  name: string,
  child: ChildProcess,
  logPath: string,
  probe: ChildOptions['probe'],
  exitCode: () => number | null | undefined,
): Promise<string> {
  let url: string | null;
  try {
    url = await eventually(`${name} ready`, probe, (found) => found !== null || exitCode() !== undefined, {
      timeoutMs: READY_TIMEOUT_MS,
      everyMs: READY_POLL_MS,
    });
  } catch {
    killGroup(child, 'SIGKILL');
    throw new Error(`${name} not ready after ${READY_TIMEOUT_MS} ms:\n${tail(logPath)}`);
  }
  if (url === null) throw new Error(`${name} exited (${exitCode()}) before it was ready:\n${tail(logPath)}`);
  return url;
}

/** The command line as a reader could type it from the repository root. */
function describe(file: string, args: readonly string[], logPath: string): string {
  const shown = file === process.execPath ? 'node' : file;
  return `${shown} ${args.map((a) => a.replace(`${ROOT}/`, '')).join(' ')} >>${logPath} 2>&1`;
}

function tail(path: string): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '(no output)';
  }
}
