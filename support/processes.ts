import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually } from './wait.js';

/** The repository root (dist/support/ is two levels below it). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const LOOKUP_TIMEOUT_MS = 30_000;

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The one process runner of the tests and benchmarks: runs a command in `cwd` (the repository root unless told) to
 * completion, with `input` on its stdin if given; SIGKILL after `timeoutMs`. Rejects only when the command
 * cannot be started.
 */
export async function run(
  file: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs: number,
  input?: string,
  cwd = ROOT,
): Promise<Run> {
  const child = spawn(file, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  // A command that exits without reading all of its input closes the pipe: EPIPE is its answer, not ours.
  child.stdin?.on('error', () => undefined);
  child.stdin?.end(input);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    const code = await new Promise<number | null>((done, fail) => {
      child.once('error', fail);
      child.once('close', (exitCode) => done(exitCode));
    });
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

/** True when `name --version` runs and exits 0 (promtool, prometheus: Debian packages the tests may use). */
export async function hasCommand(name: string): Promise<boolean> {
  try {
    return (await run(name, ['--version'], {}, LOOKUP_TIMEOUT_MS)).code === 0;
  } catch {
    return false;
  }
}

/** A pid is alive if it exists and is not a zombie (an exited process not yet reaped). */
export async function isAlive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The children of `pid`, in ascending order (none: pgrep exits 1 and this returns []). */
export async function childrenOf(pid: number): Promise<number[]> {
  const { stdout } = await run('pgrep', ['-P', String(pid)], {}, LOOKUP_TIMEOUT_MS);
  return stdout
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .sort((a, b) => a - b);
}

async function stillAlive(pids: readonly number[]): Promise<number[]> {
  const left: number[] = [];
  for (const pid of pids) if (await isAlive(pid)) left.push(pid);
  return left;
}

/** Waits until every pid is gone, up to `timeoutMs`; returns the ones still alive (so a test can assert []). */
export async function waitGone(pids: number[], timeoutMs: number): Promise<number[]> {
  try {
    return await eventually(
      'processes gone',
      () => stillAlive(pids),
      (left) => left.length === 0,
      { timeoutMs, everyMs: 100 },
    );
  } catch {
    return stillAlive(pids);
  }
}
