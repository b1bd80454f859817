/**
 * Soak test: does the proxy stay flat (memory, file descriptors, handles) under a long, mixed load?
 *
 *   node dist/bench/soak.js [--seconds 60] [--concurrency 32] [--warmup-fraction 0.2] [--settle-seconds 5]
 *                           [--access-log on|off] [--gc on|off] [--seed 1] [--out bench/results/soak.md]
 *
 * Starts the simulated backend and the proxy cluster (2 workers) as child processes on loopback, then
 * runs `concurrency` client loops for `seconds`: a warm-up phase (the first `warmup-fraction` of the time),
 * then the measured phase. Each phase ends with every client connection closed and a settle time longer
 * than the proxy's 4 s backend idle timeout, so idle sockets are gone before a snapshot. The "before"
 * snapshot is taken after the warm-up, the "after" snapshot after the measured phase: growth between them
 * is steady-state growth, not warm-up allocation. Writes a markdown report to bench/results/soak.md.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, cpus } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Agent, request, WebSocket } from 'undici';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PROXY_ENTRY = join(ROOT, 'dist/src/main.js');
const BACKEND_ENTRY = join(ROOT, 'dist/src/mock-backend/main.js');
const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 15_000;
const REQUEST_TIMEOUT_MS = 30_000;
const WORKERS = 2;
/** RSS growth over the measured phase below this fraction counts as flat. */
const FLAT_RSS_GROWTH = 0.1;

// ---------------------------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------------------------

interface SoakArgs {
  seconds: number;
  concurrency: number;
  warmupFraction: number;
  settleSeconds: number;
  accessLog: 'on' | 'off';
  /** Force a full garbage collection in every proxy process (through the inspector) before each snapshot. */
  gc: boolean;
  seed: number;
  out: string;
}

const USAGE =
  'usage: node dist/bench/soak.js [--seconds 60] [--concurrency 32] [--warmup-fraction 0.2] [--settle-seconds 5] ' +
  '[--access-log on|off] [--gc on|off] [--seed 1] [--out bench/results/soak.md]';

function parseArgs(argv: readonly string[]): SoakArgs {
  const args: SoakArgs = {
    seconds: 60,
    concurrency: 32,
    warmupFraction: 0.2,
    settleSeconds: 5,
    accessLog: 'on',
    gc: true,
    seed: 1,
    out: join(ROOT, 'bench/results/soak.md'),
  };
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] as string;
    if (token === '--help' || token === '-h') {
      console.log(USAGE);
      process.exit(0);
    }
    if (!token.startsWith('--')) throw new Error(`unexpected argument '${token}'\n${USAGE}`);
    const eq = token.indexOf('=');
    const name = eq === -1 ? token.slice(2) : token.slice(2, eq);
    const value = eq === -1 ? argv[++i] : token.slice(eq + 1);
    if (value === undefined) throw new Error(`--${name} needs a value\n${USAGE}`);
    const number = (min: number, max: number): number => {
      const parsed = Number(value);
      if (value.trim() === '' || !Number.isFinite(parsed) || parsed < min || parsed > max) {
        throw new Error(`--${name} must be a number from ${min} to ${max}, got '${value}'`);
      }
      return parsed;
    };
    switch (name) {
      case 'seconds':
        args.seconds = number(2, 86_400);
        break;
      case 'concurrency':
        args.concurrency = Math.round(number(1, 4_096));
        break;
      case 'warmup-fraction':
        args.warmupFraction = number(0.05, 0.9);
        break;
      case 'settle-seconds':
        args.settleSeconds = number(0, 600);
        break;
      case 'access-log':
        if (value !== 'on' && value !== 'off') throw new Error(`--access-log must be on or off, got '${value}'`);
        args.accessLog = value;
        break;
      case 'gc':
        if (value !== 'on' && value !== 'off') throw new Error(`--gc must be on or off, got '${value}'`);
        args.gc = value === 'on';
        break;
      case 'seed':
        args.seed = Math.round(number(0, 2 ** 31));
        break;
      case 'out':
        args.out = value;
        break;
      default:
        throw new Error(`unknown flag --${name}\n${USAGE}`);
    }
  }
  return args;
}

// ---------------------------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------------------------

interface Child {
  readonly process: ChildProcess;
  readonly pid: number;
  /** Log lines at level warn or above, and worker deaths, counted while the soak runs. */
  readonly counts: { lines: number; warn: number; error: number; workerDeaths: number };
  stop(): Promise<number | null>;
}

const children = new Set<ChildProcess>();

function killAllNow(): void {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
}

/**
 * Spawns `node <args>` and resolves once a stdout JSON line satisfies every `waitFor` predicate; the
 * result holds what each predicate returned. After that, stdout is only scanned for warnings and errors.
 */
async function startChild<T extends Record<string, (line: Record<string, unknown>) => unknown>>(
  name: string,
  args: string[],
  waitFor: T,
  env: Record<string, string> = {},
): Promise<{ child: Child; found: { [K in keyof T]: NonNullable<ReturnType<T[K]>> } }> {
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  children.add(proc);
  const counts = { lines: 0, warn: 0, error: 0, workerDeaths: 0 };
  const stderr: string[] = [];
  createInterface({ input: proc.stderr as NodeJS.ReadableStream }).on('line', (line) => {
    if (stderr.length < 50) stderr.push(line);
  });
  const found: Record<string, unknown> = {};
  const pending = new Set(Object.keys(waitFor));
  let resolveReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    resolveReady = resolve;
  });
  createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on('line', (text) => {
    counts.lines++;
    // Cheap substring checks: with the access log on, this runs for every request.
    if (text.includes('"level":"warn"')) counts.warn++;
    else if (text.includes('"level":"error"') || text.includes('"level":"fatal"')) counts.error++;
    if (text.includes('"msg":"worker died') || text.includes('"msg":"worker crash loop')) counts.workerDeaths++;
    if (pending.size === 0) return;
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    for (const key of pending) {
      const value = (waitFor[key] as (line: Record<string, unknown>) => unknown)(line);
      if (value === undefined || value === null || value === false) continue;
      found[key] = value;
      pending.delete(key);
    }
    if (pending.size === 0) resolveReady();
  });
  const exited = once(proc, 'exit').then(([code]) => {
    children.delete(proc);
    return code as number | null;
  });
  const timer = setTimeout(() => proc.kill('SIGKILL'), READY_TIMEOUT_MS);
  try {
    await Promise.race([
      ready,
      exited.then((code) => {
        throw new Error(`${name} exited with ${code} before it was ready:\n${stderr.join('\n')}`);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
  const stop = async (): Promise<number | null> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
    proc.kill('SIGTERM');
    const killTimer = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
    try {
      return await exited;
    } finally {
      clearTimeout(killTimer);
    }
  };
  return {
    child: { process: proc, pid: proc.pid as number, counts, stop },
    found: found as { [K in keyof T]: NonNullable<ReturnType<T[K]>> },
  };
}

// ---------------------------------------------------------------------------------------------
// The workload
// ---------------------------------------------------------------------------------------------

interface Outcome {
  /** 0 when no response headers arrived. */
  status: number;
  text: string;
  /** The request or the body read failed; null for a clean end. */
  error: string | null;
  /** The client itself aborted (the `abort-mid-stream` kind). */
  aborted: boolean;
}

interface Kind {
  readonly name: string;
  readonly weight: number;
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly body?: string;
  readonly headers?: Record<string, string>;
  /** Abort the request once this many body chunks arrived. */
  readonly abortAfterChunks?: number;
  /** Whether the outcome is what this kind of request should get through a correct proxy. */
  readonly expected: (outcome: Outcome) => boolean;
  /** The outcome class reported in the totals. */
  readonly label: string;
}

const JSON_TYPE = { 'content-type': 'application/json' };
const chat = (fields: Record<string, unknown>): string =>
  JSON.stringify({ model: 'mock-model', messages: [{ role: 'user', content: 'soak test prompt of a few words' }], ...fields });
const ended = (o: Outcome): boolean => o.error === null && !o.aborted;
const done = (o: Outcome): boolean => ended(o) && o.status === 200 && o.text.endsWith('data: [DONE]\n\n');

const KINDS: readonly Kind[] = [
  {
    name: 'GET /v1/models',
    weight: 12,
    method: 'GET',
    path: '/inference/v1/models',
    expected: (o) => ended(o) && o.status === 200 && o.text.includes('"object":"list"'),
    label: 'ok',
  },
  {
    name: 'GET /health (backend)',
    weight: 6,
    method: 'GET',
    path: '/inference/health',
    expected: (o) => ended(o) && o.status === 200,
    label: 'ok',
  },
  {
    name: 'chat, not streamed',
    weight: 24,
    method: 'POST',
    path: '/inference/v1/chat/completions',
    body: chat({ max_tokens: 8 }),
    headers: JSON_TYPE,
    expected: (o) => ended(o) && o.status === 200 && o.text.includes('"chat.completion"'),
    label: 'ok',
  },
  {
    name: 'chat, streamed',
    weight: 22,
    method: 'POST',
    path: '/inference/v1/chat/completions',
    body: chat({ max_tokens: 16, stream: true }),
    headers: { ...JSON_TYPE, 'x-mock-token-delay-ms': '1' },
    // The usage chunk the proxy asked for on the client's behalf is hidden from it.
    expected: (o) => done(o) && !o.text.includes('"usage":{'),
    label: 'ok',
  },
  {
    name: 'completion, streamed with usage',
    weight: 6,
    method: 'POST',
    path: '/inference/v1/completions',
    body: JSON.stringify({ model: 'mock-model', prompt: 'soak', max_tokens: 12, stream: true, stream_options: { include_usage: true } }),
    headers: JSON_TYPE,
    expected: (o) => done(o) && o.text.includes('"usage":{'),
    label: 'ok',
  },
  {
    name: 'embeddings',
    weight: 4,
    method: 'POST',
    path: '/inference/v1/embeddings',
    body: JSON.stringify({ model: 'mock-model', input: 'soak' }),
    headers: JSON_TYPE,
    expected: (o) => ended(o) && o.status === 200,
    label: 'ok',
  },
  {
    name: 'client abort mid-stream',
    weight: 8,
    method: 'POST',
    path: '/inference/v1/chat/completions',
    body: chat({ max_tokens: 400, stream: true }),
    headers: { ...JSON_TYPE, 'x-mock-token-delay-ms': '5' },
    abortAfterChunks: 3,
    expected: (o) => o.aborted && o.status === 200,
    label: 'client abort',
  },
  {
    name: 'backend crash mid-stream',
    weight: 6,
    method: 'POST',
    path: '/inference/v1/chat/completions',
    body: chat({ max_tokens: 16, stream: true }),
    headers: { ...JSON_TYPE, 'x-mock-crash-after': '3', 'x-mock-token-delay-ms': '1' },
    // The client must see a failed response, never a clean end.
    expected: (o) => !o.aborted && o.status === 200 && o.error !== null && !o.text.includes('[DONE]'),
    label: 'upstream cut',
  },
  {
    name: 'backend status 500',
    weight: 6,
    method: 'POST',
    path: '/inference/v1/chat/completions',
    body: chat({ max_tokens: 8 }),
    headers: { ...JSON_TYPE, 'x-mock-status': '500' },
    expected: (o) => ended(o) && o.status === 500,
    label: 'http 500',
  },
  {
    name: 'in-band error mid-stream',
    weight: 6,
    method: 'POST',
    path: '/inference/v1/chat/completions',
    body: chat({ max_tokens: 16, stream: true }),
    headers: { ...JSON_TYPE, 'x-mock-inband-error-after': '2' },
    expected: (o) => done(o) && o.text.includes('"error"'),
    label: 'in-band error',
  },
];
const TOTAL_WEIGHT = KINDS.reduce((sum, kind) => sum + kind.weight, 0);
/** One request in this many goes over a fresh connection (accept, close) instead of the shared pool. */
const FRESH_CONNECTION_EVERY = 10;

/** mulberry32: a small seeded PRNG, so a run's request mix is reproducible. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function pick(random: () => number): Kind {
  let r = random() * TOTAL_WEIGHT;
  for (const kind of KINDS) {
    r -= kind.weight;
    if (r < 0) return kind;
  }
  return KINDS[KINDS.length - 1] as Kind;
}

async function runOne(url: string, kind: Kind, dispatcher: Agent): Promise<Outcome> {
  const outcome: Outcome = { status: 0, text: '', error: null, aborted: false };
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error('soak request timeout')), REQUEST_TIMEOUT_MS);
  let chunks = 0;
  try {
    const res = await request(`${url}${kind.path}`, {
      method: kind.method,
      headers: kind.headers,
      body: kind.body,
      dispatcher,
      signal: controller.signal,
      headersTimeout: REQUEST_TIMEOUT_MS,
      bodyTimeout: REQUEST_TIMEOUT_MS,
    });
    outcome.status = res.statusCode;
    const parts: Buffer[] = [];
    for await (const chunk of res.body) {
      parts.push(chunk as Buffer);
      chunks++;
      if (kind.abortAfterChunks !== undefined && chunks >= kind.abortAfterChunks && !outcome.aborted) {
        outcome.aborted = true;
        controller.abort(new Error('client abort mid-stream'));
      }
    }
    outcome.text = Buffer.concat(parts).toString('utf8');
  } catch (err) {
    const e = err as { code?: string; name?: string; message?: string };
    outcome.error = `${e.code ?? e.name ?? 'Error'}: ${e.message ?? String(err)}`;
  } finally {
    clearTimeout(timer);
  }
  return outcome;
}

interface KindTally {
  sent: number;
  expected: number;
  unexpected: number;
  /** A few unexpected outcomes, for the report. */
  samples: string[];
}

interface PhaseResult {
  seconds: number;
  sent: number;
  byKind: Map<string, KindTally>;
  byLabel: Map<string, number>;
}

async function runPhase(url: string, concurrency: number, seconds: number, random: () => number): Promise<PhaseResult> {
  const byKind = new Map<string, KindTally>(KINDS.map((kind) => [kind.name, { sent: 0, expected: 0, unexpected: 0, samples: [] }]));
  const byLabel = new Map<string, number>();
  const pool = new Agent({ connections: concurrency, pipelining: 1, keepAliveTimeout: 10_000 });
  const started = performance.now();
  const endAt = started + seconds * 1000;
  let sent = 0;
  const loop = async (): Promise<void> => {
    while (performance.now() < endAt) {
      const kind = pick(random);
      const fresh = random() * FRESH_CONNECTION_EVERY < 1 ? new Agent({ connections: 1, pipelining: 0 }) : null;
      sent++;
      const outcome = await runOne(url, kind, fresh ?? pool);
      if (fresh !== null) await fresh.destroy().catch(() => undefined);
      const tally = byKind.get(kind.name) as KindTally;
      tally.sent++;
      if (kind.expected(outcome)) {
        tally.expected++;
        byLabel.set(kind.label, (byLabel.get(kind.label) ?? 0) + 1);
      } else {
        tally.unexpected++;
        byLabel.set('unexpected', (byLabel.get('unexpected') ?? 0) + 1);
        if (tally.samples.length < 3) tally.samples.push(`status ${outcome.status}, ${outcome.error ?? `body ${outcome.text.slice(-80)}`}`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const elapsed = (performance.now() - started) / 1000;
  // Closing the pool closes every client connection: the snapshot that follows sees no client sockets.
  await pool.destroy().catch(() => undefined);
  return { seconds: elapsed, sent, byKind, byLabel };
}

// ---------------------------------------------------------------------------------------------
// Forced garbage collection, through the inspector
// ---------------------------------------------------------------------------------------------

const INSPECTOR_TIMEOUT_MS = 10_000;

/**
 * A base port with `count` free ports from it, below Linux's ephemeral range. Not 0: node:cluster gives
 * each worker the primary's inspector port plus its id, and 0 + 1 is not a valid port.
 */
async function freePortRun(count: number): Promise<number> {
  const isFree = (port: number) =>
    new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 10_000);
    let free = true;
    for (let port = base; port < base + count && free; port++) free = await isFree(port);
    if (free) return base;
  }
  throw new Error('no run of free ports for the inspectors');
}

/**
 * Without a full collection, a snapshot's heap and RSS depend on where each process happens to be in its
 * GC cycle, which can hide or fake a slow leak. The proxy runs with --inspect-port=127.0.0.1:<base> in
 * NODE_OPTIONS; node:cluster starts each worker with its own --inspect-port (base + worker id). SIGUSR1
 * makes a process open its inspector on that port (Node's own signal, no code in the proxy involved).
 */
class Collector {
  readonly #basePort: number;
  readonly #urls = new Map<number, string>();

  constructor(basePort: number) {
    this.#basePort = basePort;
  }

  /** The primary has the base port from NODE_OPTIONS; a worker has its port on its command line. */
  #port(pid: number): number {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    for (const arg of cmdline) {
      const match = /^--inspect-port=(?:.*:)?(\d+)$/.exec(arg);
      if (match !== null) return Number(match[1]);
    }
    return this.#basePort;
  }

  async #debuggerUrl(port: number): Promise<string | null> {
    try {
      const res = await request(`http://127.0.0.1:${port}/json/list`, { headersTimeout: 2_000, bodyTimeout: 2_000 });
      const targets = (await res.body.json()) as Array<{ webSocketDebuggerUrl?: string }>;
      return targets[0]?.webSocketDebuggerUrl ?? null;
    } catch {
      return null;
    }
  }

  async #inspectorUrl(pid: number): Promise<string> {
    const known = this.#urls.get(pid);
    if (known !== undefined) return known;
    const port = this.#port(pid);
    let url = await this.#debuggerUrl(port);
    if (url === null) process.kill(pid, 'SIGUSR1');
    const deadline = Date.now() + INSPECTOR_TIMEOUT_MS;
    while (url === null) {
      if (Date.now() > deadline) throw new Error(`process ${pid} did not open its inspector on port ${port}`);
      await delay(100);
      url = await this.#debuggerUrl(port);
    }
    this.#urls.set(pid, url);
    return url;
  }

  /** Two full collections in process `pid`; resolves with its heap in use afterwards, in bytes. */
  async collect(pid: number): Promise<number> {
    const ws = new WebSocket(await this.#inspectorUrl(pid));
    const pending = new Map<number, (message: { result?: { result?: { value?: unknown } } }) => void>();
    let nextId = 1;
    ws.addEventListener('message', (event) => {
      const message = JSON.parse(String(event.data)) as { id?: number; result?: { result?: { value?: unknown } } };
      if (message.id !== undefined) pending.get(message.id)?.(message);
    });
    const opened = new Promise<void>((resolve, reject) => {
      ws.addEventListener('open', () => resolve());
      ws.addEventListener('error', () => reject(new Error(`inspector of ${pid}: connection failed`)));
    });
    const call = (method: string, params: Record<string, unknown> = {}) =>
      new Promise<{ result?: { result?: { value?: unknown } } }>((resolve, reject) => {
        const id = nextId++;
        const timer = setTimeout(() => reject(new Error(`inspector of ${pid}: ${method} timed out`)), INSPECTOR_TIMEOUT_MS);
        pending.set(id, (message) => {
          clearTimeout(timer);
          resolve(message);
        });
        ws.send(JSON.stringify({ id, method, params }));
      });
    try {
      await opened;
      await call('HeapProfiler.collectGarbage');
      await call('HeapProfiler.collectGarbage');
      const answer = await call('Runtime.evaluate', { expression: 'process.memoryUsage().heapUsed', returnByValue: true });
      return Number(answer.result?.result?.value);
    } finally {
      ws.close();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Snapshots
// ---------------------------------------------------------------------------------------------

interface ProcessSample {
  pid: number;
  rssKb: number;
  fds: number;
  /** Heap in use right after a forced full collection; NaN with --gc off. */
  heapAfterGcBytes: number;
}

interface Snapshot {
  primary: ProcessSample;
  workers: ProcessSample[];
  metrics: Record<string, number>;
}

function childPids(parent: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may contain spaces and parentheses, so parse from the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === parent) pids.push(Number(entry));
    } catch {
      // The process exited while we looked.
    }
  }
  return pids.sort((a, b) => a - b);
}

function processSample(pid: number): ProcessSample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return { pid, rssKb: rss ? Number(rss[1]) : Number.NaN, fds: readdirSync(`/proc/${pid}/fd`).length, heapAfterGcBytes: Number.NaN };
}

/** The sum of every sample of `name`, whatever its labels (the proxy already sums over its processes). */
function metricTotal(text: string, name: string): number {
  let sum = 0;
  let seen = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{.*\})?\s+(\S+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    sum += Number(match[2]);
    seen = true;
  }
  // A labelled gauge with no series yet (nodejs_active_requests when nothing is pending) is 0.
  return seen || text.includes(`# TYPE ${name} `) ? sum : Number.NaN;
}

const SCRAPED = [
  'process_resident_memory_bytes',
  'nodejs_heap_size_used_bytes',
  'nodejs_heap_size_total_bytes',
  'nodejs_external_memory_bytes',
  'nodejs_active_handles',
  'nodejs_active_requests',
  'process_open_fds',
  'in_flight_requests',
  'input_requests_total',
  'output_requests_total',
  'worker_restarts_total',
] as const;

async function snapshot(primaryPid: number, metricsUrl: string, collector: Collector | null): Promise<Snapshot> {
  const pids = [primaryPid, ...childPids(primaryPid)];
  const heaps = new Map<number, number>();
  for (const pid of pids) if (collector !== null) heaps.set(pid, await collector.collect(pid));
  const res = await request(metricsUrl, { headersTimeout: 10_000, bodyTimeout: 10_000 });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`GET ${metricsUrl}: ${res.statusCode}`);
  const metrics: Record<string, number> = {};
  for (const name of SCRAPED) metrics[name] = metricTotal(text, name);
  const sampled = (pid: number): ProcessSample => ({ ...processSample(pid), heapAfterGcBytes: heaps.get(pid) ?? Number.NaN });
  return { primary: sampled(primaryPid), workers: childPids(primaryPid).map(sampled), metrics };
}

interface TimelinePoint {
  atSeconds: number;
  primaryKb: number;
  workersKb: number[];
}

/** RSS of the primary and the workers at 8 evenly spaced times of a phase that lasts `seconds` (growth vs plateau). */
async function sampleTimeline(primaryPid: number, seconds: number): Promise<TimelinePoint[]> {
  const points: TimelinePoint[] = [];
  const started = performance.now();
  const STEPS = 8;
  for (let step = 0; step < STEPS; step++) {
    const due = started + (seconds * 1000 * step) / STEPS;
    await delay(Math.max(0, due - performance.now()));
    try {
      const workers = childPids(primaryPid).map(processSample);
      points.push({
        atSeconds: (performance.now() - started) / 1000,
        primaryKb: processSample(primaryPid).rssKb,
        workersKb: workers.map((w) => w.rssKb),
      });
    } catch {
      // A process went away between the listing and the read; the final snapshot reports it.
    }
  }
  return points;
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

const MIB = 1024 * 1024;
const fmt = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const signed = (n: number, digits = 1): string => (Number.isFinite(n) ? `${n >= 0 ? '+' : ''}${n.toFixed(digits)}` : 'n/a');
const percent = (before: number, after: number): string => (before > 0 ? `${signed(((after - before) / before) * 100)} %` : 'n/a');

interface Verdict {
  flat: boolean;
  notes: string[];
}

function judge(before: Snapshot, after: Snapshot, workersSame: boolean): Verdict {
  const notes: string[] = [];
  const processes = [
    ['primary', before.primary, after.primary],
    ...before.workers.map((w, i) => [`worker ${i + 1}`, w, after.workers[i]] as const),
  ] as const;
  if (!workersSame) notes.push('the worker processes changed during the soak (a worker died): per-worker rows compare different processes');
  for (const [name, b, a] of processes) {
    if (a === undefined) continue;
    const growth = (a.rssKb - b.rssKb) / b.rssKb;
    if (growth >= FLAT_RSS_GROWTH) notes.push(`${name} RSS grew ${(growth * 100).toFixed(1)} % (limit ${FLAT_RSS_GROWTH * 100} %)`);
    if (a.fds > b.fds) notes.push(`${name} holds ${a.fds - b.fds} more file descriptors`);
  }
  const handles = after.metrics.nodejs_active_handles as number;
  if (handles > (before.metrics.nodejs_active_handles as number)) {
    notes.push(`nodejs_active_handles did not return to baseline (${before.metrics.nodejs_active_handles} -> ${handles})`);
  }
  if ((after.metrics.in_flight_requests as number) !== 0) notes.push(`in_flight_requests is ${after.metrics.in_flight_requests}, not 0`);
  return { flat: notes.length === 0, notes };
}

function render(
  args: SoakArgs,
  warmup: PhaseResult,
  measured: PhaseResult,
  before: Snapshot,
  after: Snapshot,
  proxy: Child,
  startedAt: Date,
  underLoad: TimelinePoint[],
): string {
  const workersSame = before.workers.map((w) => w.pid).join() === after.workers.map((w) => w.pid).join();
  const verdict = judge(before, after, workersSame);
  const rows: string[][] = [];
  const processRows = (name: string, b: ProcessSample, a: ProcessSample | undefined): void => {
    const label = `${name} (pid ${b.pid}${a !== undefined && a.pid !== b.pid ? ` -> ${a.pid}` : ''})`;
    const aRss = a?.rssKb ?? Number.NaN;
    const aFds = a?.fds ?? Number.NaN;
    rows.push([`${label} RSS, MiB`, fmt(b.rssKb / 1024), fmt(aRss / 1024), signed((aRss - b.rssKb) / 1024), percent(b.rssKb, aRss)]);
    rows.push([`${label} open fds`, String(b.fds), String(aFds), signed(aFds - b.fds, 0), percent(b.fds, aFds)]);
    if (args.gc) {
      const bHeap = b.heapAfterGcBytes / MIB;
      const aHeap = (a?.heapAfterGcBytes ?? Number.NaN) / MIB;
      rows.push([`${label} heap used after full GC, MiB`, fmt(bHeap), fmt(aHeap), signed(aHeap - bHeap), percent(bHeap, aHeap)]);
    }
  };
  processRows('primary', before.primary, after.primary);
  for (const [i, w] of before.workers.entries()) processRows(`worker ${i + 1}`, w, after.workers[i]);
  const metricRow = (name: string, scale: number, unit: string): void => {
    const b = (before.metrics[name] as number) / scale;
    const a = (after.metrics[name] as number) / scale;
    const digits = scale === 1 ? 0 : 1;
    rows.push([`/metrics ${name}${unit}`, fmt(b, digits), fmt(a, digits), signed(a - b, digits), percent(b, a)]);
  };
  metricRow('process_resident_memory_bytes', MIB, ' (sum), MiB');
  metricRow('nodejs_heap_size_used_bytes', MIB, ' (sum), MiB');
  metricRow('nodejs_heap_size_total_bytes', MIB, ' (sum), MiB');
  metricRow('nodejs_external_memory_bytes', MIB, ' (sum), MiB');
  metricRow('nodejs_active_handles', 1, ' (sum over types)');
  metricRow('nodejs_active_requests', 1, ' (sum over types)');
  metricRow('process_open_fds', 1, ' (sum)');
  metricRow('in_flight_requests', 1, '');

  const table = (header: string[], body: string[][]): string =>
    [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n');
  const counted = (after.metrics.input_requests_total as number) - (before.metrics.input_requests_total as number);
  const endedCount = (after.metrics.output_requests_total as number) - (before.metrics.output_requests_total as number);
  const kindRows = KINDS.map((kind) => {
    const tally = measured.byKind.get(kind.name) as KindTally;
    return [kind.name, String(tally.sent), String(tally.expected), String(tally.unexpected), tally.samples.join('; ') || ''];
  });
  const labelRows = [...measured.byLabel.entries()].sort((a, b) => b[1] - a[1]).map(([label, n]) => [label, String(n)]);
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return [
    '# Soak',
    '',
    `${startedAt.toISOString()}, Node ${process.version}, ${availableParallelism()} CPUs (${cpu}); proxy with ${WORKERS} workers, ` +
      `access log ${args.accessLog}, simulated backend; all on loopback. Command: ` +
      `\`node dist/bench/soak.js --seconds ${args.seconds} --concurrency ${args.concurrency} --warmup-fraction ${args.warmupFraction} ` +
      `--settle-seconds ${args.settleSeconds} --access-log ${args.accessLog} --gc ${args.gc ? 'on' : 'off'} --seed ${args.seed}\`.`,
    '',
    `Warm-up ${fmt(warmup.seconds)} s (${warmup.sent} requests), then the "before" snapshot; measured phase ${fmt(measured.seconds)} s, ` +
      `then the "after" snapshot. Each snapshot follows ${args.settleSeconds} s of quiet with every client connection closed` +
      (args.gc ? ', and two forced full garbage collections in every proxy process (inspector, opened before the first snapshot).' : '.'),
    '',
    table(['measure', 'before', 'after', 'delta', 'delta %'], rows),
    '',
    `**Verdict: ${verdict.flat ? 'flat' : 'NOT flat'}** (flat: RSS growth < ${FLAT_RSS_GROWTH * 100} % per process after the warm-up, ` +
      'fds and active handles back to baseline, nothing in flight).' +
      (verdict.notes.length > 0 ? `\n\n${verdict.notes.map((n) => `- ${n}`).join('\n')}` : ''),
    '',
    '## Measured phase',
    '',
    `${measured.sent} requests in ${fmt(measured.seconds)} s: **${fmt(measured.sent / measured.seconds, 0)} requests/s** at concurrency ` +
      `${args.concurrency} (1 in ${FRESH_CONNECTION_EVERY} on a fresh connection). The proxy counted ${counted} arrivals and ${endedCount} ` +
      `ends in the same phase (input_requests_total, output_requests_total). Over the whole run the proxy logged ` +
      `${proxy.counts.warn} warnings, ${proxy.counts.error} errors and ` +
      `${proxy.counts.workerDeaths} worker deaths.`,
    '',
    `RSS under load, MiB (sampled ${underLoad.length} times during the measured phase, from its start): ` +
      underLoad
        .map(
          (p) =>
            `${fmt(p.atSeconds, 0)} s: primary ${fmt(p.primaryKb / 1024)}, workers ${p.workersKb.map((kb) => fmt(kb / 1024)).join(' + ')}`,
        )
        .join('; ') +
      '.',
    '',
    table(['outcome', 'requests'], labelRows),
    '',
    table(['request kind', 'sent', 'as expected', 'unexpected', 'examples of unexpected'], kindRows),
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const startedAt = new Date();
  const random = prng(args.seed);
  const warmupSeconds = args.seconds * args.warmupFraction;
  const measuredSeconds = args.seconds - warmupSeconds;

  const { child: backend, found: backendFound } = await startChild('backend', [BACKEND_ENTRY, '--host', '127.0.0.1', '--port', '0'], {
    url: (line) => (line.msg === 'mock backend listening' ? (line.url as string) : undefined),
  });
  let proxy: Child | null = null;
  // The primary's inspector port, and one per worker after it (node:cluster adds the worker id).
  const inspectBase = args.gc ? await freePortRun(WORKERS + 1) : null;
  try {
    const started = await startChild(
      'proxy',
      [
        PROXY_ENTRY,
        '--host',
        '127.0.0.1',
        '--port',
        '0',
        '--workers',
        String(WORKERS),
        '--backend-url',
        backendFound.url,
        '--metrics-port',
        '0',
        '--access-log',
        args.accessLog,
        '--drain-timeout',
        '5000',
      ],
      {
        port: (line) => (line.msg === 'proxy ready' ? (line.port as number) : undefined),
        metricsPort: (line) => (line.msg === 'metrics port listening' ? (line.port as number) : undefined),
      },
      inspectBase === null ? {} : { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --inspect-port=127.0.0.1:${inspectBase}`.trim() },
    );
    proxy = started.child;
    const url = `http://127.0.0.1:${started.found.port}`;
    const collector = inspectBase === null ? null : new Collector(inspectBase);
    const metricsUrl = `http://127.0.0.1:${started.found.metricsPort}/metrics`;
    console.log(
      `proxy ${url} (primary pid ${proxy.pid}), backend ${backendFound.url}; ${args.seconds} s at concurrency ${args.concurrency}`,
    );

    console.log(`warm-up: ${fmt(warmupSeconds)} s`);
    const warmup = await runPhase(url, args.concurrency, warmupSeconds, random);
    await delay(args.settleSeconds * 1000);
    const before = await snapshot(proxy.pid, metricsUrl, collector);

    console.log(`measured phase: ${fmt(measuredSeconds)} s`);
    const timeline = sampleTimeline(proxy.pid, measuredSeconds);
    const measured = await runPhase(url, args.concurrency, measuredSeconds, random);
    const underLoad = await timeline;
    await delay(args.settleSeconds * 1000);
    const after = await snapshot(proxy.pid, metricsUrl, collector);

    const report = render(args, warmup, measured, before, after, proxy, startedAt, underLoad);
    mkdirSync(dirname(args.out), { recursive: true });
    writeFileSync(args.out, report);
    console.log(`\n${report}`);
    console.log(`written to ${relative(process.cwd(), args.out) || args.out}`);
  } finally {
    const code = await proxy?.stop();
    if (code !== undefined && code !== 0) console.error(`the proxy exited with ${code}`);
    await backend.stop();
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAllNow();
    process.exit(130);
  });
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  killAllNow();
  process.exit(1);
});
