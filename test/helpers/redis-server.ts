import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { freePort } from '../../support/ports.js';
import { eventually } from '../../support/wait.js';

const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;
const START_ATTEMPTS = 3;
const STDOUT_LINES_KEPT = 50;

export interface RunningRedis {
  readonly port: number;
  readonly url: string;
  readonly output: string[];
  /** One command over a fresh connection (RESP), answered as text: `PING` -> `+PONG`. */
  command(...args: string[]): Promise<string>;
  /** SIGKILL: gone at once, as in a crash (nothing saved). */
  kill(): Promise<void>;
  /** Starts again on the same port, empty (no persistence). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Whether Debian's redis-server is installed (.ci/run installs it). */
export async function hasRedisServer(): Promise<boolean> {
  try {
    const child = spawn('redis-server', ['--version'], { stdio: 'ignore' });
    const [code] = (await once(child, 'exit')) as [number | null];
    return code === 0;
  } catch {
    return false;
  }
}

/**
 * A real redis-server on a free loopback port, without persistence (no RDB, no AOF), its working
 * directory a temporary one; stopped when the test ends. Only loopback: it binds 127.0.0.1.
 */
export async function startRedis(t: TestContext): Promise<RunningRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'iproxy-redis-'));
  const output: string[] = [];
  let child: ChildProcess | null = null;
  let port = 0;
  const launch = async (): Promise<boolean> => {
    const spawned = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--daemonize',
        'no',
        '--loglevel',
        'warning',
        '--enable-debug-command',
        'local',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    for (const stream of [spawned.stdout, spawned.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        output.push(...chunk.split('\n').filter((line) => line !== ''));
        output.splice(0, Math.max(0, output.length - STDOUT_LINES_KEPT));
      });
    }
    child = spawned;
    const state = await eventually(
      'redis-server ready',
      async () => {
        if (spawned.exitCode !== null || spawned.signalCode !== null) return 'exited';
        return (await sendCommand(port, ['PING'])) === '+PONG' ? 'ready' : 'starting';
      },
      (value) => value !== 'starting',
      { timeoutMs: READY_TIMEOUT_MS, everyMs: 50 },
    );
    return state === 'ready';
  };
  const stopChild = async (signal: NodeJS.Signals): Promise<void> => {
    const running = child as ChildProcess | null;
    if (running === null || running.exitCode !== null || running.signalCode !== null) return;
    const exited = once(running, 'exit');
    running.kill(signal);
    const timer = setTimeout(() => running.kill('SIGKILL'), STOP_TIMEOUT_MS);
    try {
      await exited;
    } finally {
      clearTimeout(timer);
    }
  };
  let started = false;
  for (let attempt = 0; attempt < START_ATTEMPTS && !started; attempt++) {
    port = await freePort();
    started = await launch().catch(() => false);
    if (!started) await stopChild('SIGKILL');
  }
  if (!started) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`redis-server did not start; output:\n${output.join('\n')}`);
  }
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= stopChild('SIGTERM').finally(() => rm(dir, { recursive: true, force: true }));
    return stopping;
  };
  t.after(stop);
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    output,
    command: (...args) => sendCommand(port, args),
    kill: () => stopChild('SIGKILL'),
    async restart() {
      await stopChild('SIGKILL');
      if (!(await launch())) throw new Error(`redis-server did not start again; output:\n${output.join('\n')}`);
    },
    stop,
  };
}

/** A simple reply as its line (`+PONG`, `:3`, `-ERR ...`), a bulk string as its content (`$-1`: none); null until complete. */
function firstReply(text: string): string | null {
  const end = text.indexOf('\r\n');
  if (end === -1) return null;
  const line = text.slice(0, end);
  if (!line.startsWith('$') || line === '$-1') return line;
  const length = Number(line.slice(1));
  return text.length >= end + 2 + length + 2 ? text.slice(end + 2, end + 2 + length) : null;
}

/** Sends one RESP command and returns its reply (see firstReply) (bounded: 2 s); rejects when nothing listens. */
function sendCommand(port: number, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const timer = setTimeout(() => socket.destroy(new Error('redis command timed out')), 2_000);
    let text = '';
    socket.setEncoding('utf8');
    socket.on('connect', () =>
      socket.write(`*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`),
    );
    socket.on('data', (chunk: string) => {
      text += chunk;
      const reply = firstReply(text);
      if (reply === null) return;
      clearTimeout(timer);
      socket.end();
      resolve(reply);
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
