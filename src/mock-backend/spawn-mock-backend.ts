import { type ChildProcess, spawn } from 'node:child_process';
import { isAbsolute, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const READY_MESSAGE = 'mock backend listening';
// Enough of stderr to explain a failed start (a bad flag, a taken port) without holding a flood.
const MAX_STDERR_CHARS = 4_000;

export interface SpawnMockOptions {
  /** 0 (default) picks a free port; the restart command then names the one picked. */
  readonly port?: number;
  /** Further CLI flags of the mock backend (`--models`, `--ttft-ms`, ...). */
  readonly args?: readonly string[];
  /** Its own process group: a Ctrl-C in the terminal then reaches only the parent, which stops it in order. */
  readonly detached?: boolean;
}

export interface MockBackendProcess {
  readonly url: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** A shell command that starts this backend again on the same port, for people to copy. */
  readonly command: string;
  /** Settles when the process has exited. */
  readonly exited: Promise<void>;
  /** SIGTERM (the mock closes and exits), SIGKILL if it is still there after a bound. */
  stop(): Promise<void>;
}

/** Runs `node dist/src/mock-backend/main.js` and resolves once it listens; rejects with its stderr if it cannot. */
export async function spawnMockBackend(options: SpawnMockOptions = {}): Promise<MockBackendProcess> {
  const args = [...(options.args ?? [])];
  const child = spawn(process.execPath, [MAIN, '--port', String(options.port ?? 0), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
  // 'error' too: a process that could not be spawned emits no 'exit'.
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  let stderr = '';
  const collect = (chunk: Buffer): void => {
    if (stderr.length < MAX_STDERR_CHARS) stderr += chunk.toString();
  };
  child.stderr?.on('data', collect);
  try {
    const url = await readyUrl(child, exited, () => stderr);
    // From now on its stderr is the user's to see; stdout has nothing more to say but must not fill up.
    child.stderr?.off('data', collect).pipe(process.stderr);
    child.stdout?.resume();
    const port = new URL(url).port;
    return {
      url,
      pid: child.pid as number,
      child,
      command: nodeCommand(MAIN, ['--port', port, ...args]),
      exited,
      stop: () => stopChild(child, exited),
    };
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
}

/** The URL from the mock's "listening" line, within a bound; the process exiting first is an error with its stderr. */
async function readyUrl(child: ChildProcess, exited: Promise<void>, stderr: () => string): Promise<string> {
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  let timer: NodeJS.Timeout | undefined;
  const failed = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`mock backend not listening after ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    void exited.then(() => reject(new Error(`mock backend exited (${child.exitCode ?? child.signalCode}): ${stderr().trim()}`)));
  });
  const ready = new Promise<string>((resolve) => {
    lines.on('line', (line) => {
      try {
        const event = JSON.parse(line) as { msg?: unknown; url?: unknown };
        if (event.msg === READY_MESSAGE && typeof event.url === 'string') resolve(event.url);
      } catch {
        // Not the line we wait for.
      }
    });
  });
  try {
    return await Promise.race([ready, failed]);
  } finally {
    clearTimeout(timer);
    lines.close();
  }
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), STOP_TIMEOUT_MS);
  });
  if ((await Promise.race([exited, late])) === 'late') {
    child.kill('SIGKILL');
    await exited;
  }
  clearTimeout(timer);
}

/**
 * `node <file> <args>` for a POSIX shell, quoted only where needed, the file relative to the working
 * directory when below it (`npm run demo` runs in the repository root): for people to copy.
 */
export function nodeCommand(file: string, args: readonly string[]): string {
  const path = relative(process.cwd(), file);
  const shown = path.startsWith('..') || isAbsolute(path) ? file : path;
  return ['node', shown, ...args].map((word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`)).join(' ');
}
