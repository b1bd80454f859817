import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PROXY_ENTRY = join(ROOT, 'dist/src/main.js');
const BACKEND_ENTRY = join(ROOT, 'dist/src/mock-backend/main.js');
const SIMPLE_PROXY_ENTRY = join(ROOT, 'dist/bench/simple-proxy.js');
const FASTIFY_PROXY_ENTRY = join(ROOT, 'dist/bench/fastify-proxy.js');
const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 15_000;

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

/** Every child still running, each the leader of its own process group (spawned detached). */
const live = new Set<ChildProcess>();

/** Last resort (error, signal, exit): SIGKILL each child's process group, the proxy workers included. */
export function killAllNow(): void {
  for (const child of live) killGroup(child, 'SIGKILL');
  live.clear();
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
 * process is also the load generator and must not spend CPU draining the access log), then calls
 * `probe` every 50 ms until it returns the URL the server answers on.
 */
export async function startChild(
  name: string,
  file: string,
  args: string[],
  logPath: string,
  probe: () => Promise<string | null> | string | null,
  accessLogPath: string | null = null,
): Promise<Server> {
  const fd = openSync(logPath, 'a');
  const child = spawn(file, args, { stdio: ['ignore', fd, fd], detached: true });
  closeSync(fd);
  live.add(child);
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code, signal) => {
      exitCode = code ?? (signal === null ? null : -1);
      resolve(exitCode);
    });
  });
  const shown = file === process.execPath ? 'node' : file;
  const command = `${shown} ${args.map((a) => a.replace(ROOT, '')).join(' ')} >>${logPath} 2>&1`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let url: string | null = null;
  while (url === null) {
    if (exitCode !== undefined) throw new Error(`${name} exited (${exitCode}) before it was ready:\n${tail(logPath)}`);
    if (Date.now() > deadline) {
      killGroup(child, 'SIGKILL');
      throw new Error(`${name} not ready after ${READY_TIMEOUT_MS} ms:\n${tail(logPath)}`);
    }
    await sleep(50);
    url = await probe();
  }
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
  return { name, pid: child.pid!, url, logPath, accessLogPath, command, stop };
}

/** A Node server that prints a JSON line announcing it is ready. */
function startNode(
  name: string,
  args: string[],
  logPath: string,
  isReady: (line: Record<string, unknown>) => string | null,
  accessLogPath: string | null = null,
): Promise<Server> {
  return startChild(name, process.execPath, args, logPath, () => findReady(logPath, isReady), accessLogPath);
}

function findReady(logPath: string, isReady: (line: Record<string, unknown>) => string | null): string | null {
  for (const line of readFileSync(logPath, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const url = isReady(JSON.parse(line) as Record<string, unknown>);
      if (url !== null) return url;
    } catch {
      // a partial line: read again on the next poll
    }
  }
  return null;
}

export function startBackend(logPath: string): Promise<Server> {
  const args = [BACKEND_ENTRY, '--host', '127.0.0.1', '--port', '0', '--ttft-ms', '0', '--token-delay-ms', '0'];
  return startNode('backend', args, logPath, (line) =>
    line.msg === 'mock backend listening' && typeof line.url === 'string' ? line.url : null,
  );
}

/**
 * The production configuration: access log on (to logPath), metrics recorded by every worker (always on).
 * `extraArgs` go last, e.g. `--inject-usage off`.
 */
export function startProxy(
  name: string,
  backendUrl: string,
  workers: number,
  logPath: string,
  extraArgs: readonly string[] = [],
  entry: string = PROXY_ENTRY,
): Promise<Server> {
  const args = [
    entry,
    '--backend-url',
    backendUrl,
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--workers',
    String(workers),
    // Unless extraArgs turn it off.
    ...(extraArgs.includes('--access-log') ? [] : ['--access-log', 'on']),
    '--log-level',
    'info',
    ...extraArgs,
  ];
  return startNode(
    name,
    args,
    logPath,
    (line) => (line.msg === 'proxy ready' && typeof line.port === 'number' ? `http://127.0.0.1:${line.port}` : null),
    extraArgs.includes('--access-log') ? null : logPath,
  );
}

/** bench/simple-proxy.ts or bench/fastify-proxy.ts: one process, no logging, `connections` to the backend. */
export function startBaselineProxy(
  kind: 'simple-undici' | 'fastify',
  name: string,
  backendUrl: string,
  logPath: string,
  connections: number,
): Promise<Server> {
  const entry = kind === 'simple-undici' ? SIMPLE_PROXY_ENTRY : FASTIFY_PROXY_ENTRY;
  const args = [entry, '--backend', backendUrl, '--host', '127.0.0.1', '--port', '0', '--connections', String(connections)];
  return startNode(name, args, logPath, (line) =>
    typeof line.msg === 'string' && line.msg.endsWith('listening') && typeof line.port === 'number'
      ? `http://127.0.0.1:${line.port}`
      : null,
  );
}

/** A loopback port free right now (for servers, like nginx, that cannot be told to pick one). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** True once something accepts TCP connections on 127.0.0.1:port. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function tail(path: string): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '(no output)';
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
