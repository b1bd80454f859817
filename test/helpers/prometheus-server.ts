import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../support/ports.js';
import { eventually } from '../../support/wait.js';
import { send } from './http.js';

const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;
const QUERY_TIMEOUT_MS = 15_000;
const POLL_MS = 200;
const START_ATTEMPTS = 3;
const STDERR_LINES_KEPT = 50;

export interface Sample {
  metric: Record<string, string>;
  value: number;
}

export interface PrometheusOptions {
  /** Scrape targets (host:port) of job `inference-proxy`. */
  targets: string[];
  /** Absolute paths of rule files to load. */
  ruleFiles: string[];
  /** Scrape and rule evaluation interval. */
  intervalS?: number;
}

export interface RunningPrometheus {
  readonly url: string;
  readonly stderr: string[];
  /** An instant query; `time` is a Unix timestamp in seconds (as Prometheus prints it), default now. */
  query(expr: string, time?: string): Promise<Sample[]>;
  /** Polls `expr` until `done` accepts the result; rejects with the last result after `timeoutMs`. */
  waitFor(expr: string, done: (samples: Sample[]) => boolean, timeoutMs?: number): Promise<Sample[]>;
  /** GET of an API path, parsed; `data` of a successful answer. */
  api(path: string): Promise<unknown>;
  stop(): Promise<void>;
}

function configText(options: PrometheusOptions): string {
  const interval = `${options.intervalS ?? 1}s`;
  // JSON strings are valid YAML scalars, so paths and targets need no further quoting.
  return [
    'global:',
    `  scrape_interval: ${interval}`,
    `  scrape_timeout: ${interval}`,
    `  evaluation_interval: ${interval}`,
    'rule_files:',
    ...options.ruleFiles.map((file) => `  - ${JSON.stringify(file)}`),
    'scrape_configs:',
    '  - job_name: inference-proxy',
    '    static_configs:',
    `      - targets: ${JSON.stringify(options.targets)}`,
    '',
  ].join('\n');
}

/** Prometheus prints infinities as +Inf and -Inf, which Number() does not read. */
function parseValue(text: string): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  return Number(text);
}

async function apiGet(base: string, path: string): Promise<unknown> {
  const res = await send(`${base}${path}`);
  const body = JSON.parse(res.text) as { status: string; data?: unknown; error?: string };
  if (res.status !== 200 || body.status !== 'success') throw new Error(`GET ${path}: ${res.status} ${body.error ?? res.text}`);
  return body.data;
}

/** Waits for /-/ready; resolves false if the process exits first. */
async function untilReady(child: ChildProcess, base: string): Promise<boolean> {
  const state = await eventually(
    'prometheus ready',
    async () => {
      if (child.exitCode !== null || child.signalCode !== null) return 'exited';
      // Not listening yet: send() rejects, and eventually() takes that as "not yet".
      return (await send(`${base}/-/ready`)).status === 200 ? 'ready' : 'starting';
    },
    (value) => value !== 'starting',
    { timeoutMs: READY_TIMEOUT_MS, everyMs: POLL_MS },
  );
  return state === 'ready';
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts the real Prometheus server on a free loopback port with a temporary config and TSDB, and waits
 * until it is ready. Only loopback is involved: the targets are loopback and nothing else is configured.
 */
export async function startPrometheus(options: PrometheusOptions): Promise<RunningPrometheus> {
  const dir = await mkdtemp(join(tmpdir(), 'iproxy-prometheus-'));
  const configFile = join(dir, 'prometheus.yml');
  await writeFile(configFile, configText(options));
  const stderr: string[] = [];
  try {
    for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const child = spawn(
        'prometheus',
        [
          `--config.file=${configFile}`,
          `--storage.tsdb.path=${join(dir, `data-${attempt}`)}`,
          `--web.listen-address=127.0.0.1:${port}`,
          '--web.enable-lifecycle',
          '--log.level=warn',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (chunk: string) => {
        stderr.push(...chunk.split('\n').filter((line) => line !== ''));
        stderr.splice(0, Math.max(0, stderr.length - STDERR_LINES_KEPT));
      });
      let ready = false;
      try {
        ready = await untilReady(child, base);
      } finally {
        if (!ready) await stopChild(child);
      }
      // Exited before ready: most likely the port was taken in the meantime; try another one.
      if (!ready) continue;
      return running(child, base, dir, stderr);
    }
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  await rm(dir, { recursive: true, force: true });
  throw new Error(`prometheus did not start in ${START_ATTEMPTS} attempts; stderr:\n${stderr.join('\n')}`);
}

function running(child: ChildProcess, base: string, dir: string, stderr: string[]): RunningPrometheus {
  const query = async (expr: string, time?: string): Promise<Sample[]> => {
    const params = new URLSearchParams({ query: expr });
    if (time !== undefined) params.set('time', time);
    const data = (await apiGet(base, `/api/v1/query?${params}`)) as {
      resultType: string;
      result: Array<{ metric: Record<string, string>; value: [number, string] }>;
    };
    if (data.resultType !== 'vector') throw new Error(`${expr}: expected a vector, got ${data.resultType}`);
    return data.result.map((r) => ({ metric: r.metric, value: parseValue(r.value[1]) }));
  };
  const waitFor = async (expr: string, done: (samples: Sample[]) => boolean, timeoutMs = QUERY_TIMEOUT_MS): Promise<Sample[]> => {
    try {
      return await eventually(expr, () => query(expr), done, { timeoutMs, everyMs: POLL_MS });
    } catch (err) {
      throw new Error(`${(err as Error).message}; stderr:\n${stderr.join('\n')}`);
    }
  };
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= stopChild(child).finally(() => rm(dir, { recursive: true, force: true }));
    return stopping;
  };
  return { url: base, stderr, query, waitFor, api: (path) => apiGet(base, path), stop };
}
