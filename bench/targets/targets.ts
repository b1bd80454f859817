import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../support/processes.js';
import { type Server, startChild } from './start-child.js';

const PROXY_ENTRY = join(ROOT, 'dist/src/main.js');
const BACKEND_ENTRY = join(ROOT, 'dist/src/mock-backend/main.js');
const SIMPLE_PROXY_ENTRY = join(ROOT, 'dist/bench/targets/simple-proxy.js');
const FASTIFY_PROXY_ENTRY = join(ROOT, 'dist/bench/targets/fastify-proxy.js');
/** The backend takes connections on all of these (same port): 8 backend URLs, one backend process. */
const FLEET_HOSTS = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7', '127.0.0.8'];

/** The backend's URL on each of FLEET_HOSTS, comma-separated, for --backend-url. */
export function fleetUrls(backendUrl: string): string {
  const url = new URL(backendUrl);
  return FLEET_HOSTS.map((host) => `${url.protocol}//${host}:${url.port}`).join(',');
}

/** One JSON log line, as our servers print them. */
export type LogLine = Record<string, unknown>;

/** How a Node server of the bench is run, beyond its arguments. */
interface NodeRun {
  /** Where its access log goes (grows per request), if it keeps one. */
  accessLogPath?: string | null;
  env?: Readonly<Record<string, string>>;
  /** The Node binary (`--node PATH`); the bench's own by default. */
  node?: string;
}

/** A Node server that prints a JSON line announcing it is ready. */
function startNode(
  name: string,
  args: string[],
  logPath: string,
  isReady: (line: LogLine) => string | null,
  run: NodeRun = {},
): Promise<Server> {
  const probe = (): string | null => findLogLine(logPath, isReady);
  const file = run.node ?? process.execPath;
  return startChild({ name, file, args, logPath, probe, accessLogPath: run.accessLogPath ?? null, env: run.env ?? {} });
}

/** What `pick` returns for the first JSON line of the log it accepts, or null. */
export function findLogLine<T>(logPath: string, pick: (line: LogLine) => T | null): T | null {
  for (const line of readFileSync(logPath, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const found = pick(JSON.parse(line) as LogLine);
      if (found !== null) return found;
    } catch {
      // a partial line: read again on the next poll
    }
  }
  return null;
}

/** The mock backend on `hosts` (the first is its main address), same port on each. */
export function startBackend(logPath: string, hosts: readonly string[] = FLEET_HOSTS, name = 'backend'): Promise<Server> {
  const also = hosts.length > 1 ? ['--also-hosts', hosts.slice(1).join(',')] : [];
  const args = [BACKEND_ENTRY, '--host', hosts[0] ?? '127.0.0.1', ...also, '--port', '0', '--ttft-ms', '0', '--token-delay-ms', '0'];
  return startNode(name, args, logPath, (line) =>
    line.msg === 'mock backend listening' && typeof line.url === 'string' ? line.url : null,
  );
}

export interface PrefixBackendOptions {
  cacheBlocks: number;
  baseMs: number;
  msPerBlock: number;
  slots: number;
  tokenDelayMs: number;
}

/** A simulated backend with its prefix cache on (the routing workload): prefill time depends on what it holds. */
export function startPrefixBackend(name: string, logPath: string, options: PrefixBackendOptions): Promise<Server> {
  const args = [
    BACKEND_ENTRY,
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--token-delay-ms',
    String(options.tokenDelayMs),
    '--prefix-cache-blocks',
    String(options.cacheBlocks),
    '--prefill-base-ms',
    String(options.baseMs),
    '--prefill-ms-per-block',
    String(options.msPerBlock),
    '--prefill-slots',
    String(options.slots),
  ];
  return startNode(name, args, logPath, (line) =>
    line.msg === 'mock backend listening' && typeof line.url === 'string' ? line.url : null,
  );
}

export interface EngineBackendOptions {
  maxNumSeqs: number;
  ttftMs: number;
  tokenDelayMs: number;
  /** vLLM's --scheduling-policy: `priority` orders its queue by the request's priority field. */
  schedulingPolicy?: 'fcfs' | 'priority';
}

/** A simulated engine (the saturation workload): sequence slots with a queue beyond them, the wait in its time to first token. */
export function startEngineBackend(name: string, logPath: string, options: EngineBackendOptions): Promise<Server> {
  const args = [
    BACKEND_ENTRY,
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--max-num-seqs',
    String(options.maxNumSeqs),
    '--ttft-ms',
    String(options.ttftMs),
    '--token-delay-ms',
    String(options.tokenDelayMs),
    '--scheduling-policy',
    options.schedulingPolicy ?? 'fcfs',
  ];
  return startNode(name, args, logPath, (line) =>
    line.msg === 'mock backend listening' && typeof line.url === 'string' ? line.url : null,
  );
}

export interface ProxyOptions {
  name: string;
  backendUrl: string;
  workers: number;
  logPath: string;
  /** Last on the command line, e.g. `--inject-usage off`. */
  extraArgs?: readonly string[];
  /** Another build's dist/src/main.js (BENCH_BASELINE); this checkout's by default. */
  entry?: string;
  env?: Readonly<Record<string, string>>;
  /** The Node binary (`--node PATH`); the bench's own by default. */
  node?: string;
}

/** The production configuration: access log on (to logPath) unless extraArgs say otherwise, metrics recorded by every worker. */
export function startProxy(options: ProxyOptions): Promise<Server> {
  const extraArgs = options.extraArgs ?? [];
  const ownAccessLog = !extraArgs.includes('--access-log');
  const args = [
    options.entry ?? PROXY_ENTRY,
    '--backend-url',
    options.backendUrl,
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--workers',
    String(options.workers),
    ...(ownAccessLog ? ['--access-log', 'on'] : []),
    '--log-level',
    'info',
    ...extraArgs,
  ];
  return startNode(
    options.name,
    args,
    options.logPath,
    (line) => (line.msg === 'proxy ready' && typeof line.port === 'number' ? `http://127.0.0.1:${line.port}` : null),
    {
      accessLogPath: ownAccessLog ? options.logPath : null,
      ...(options.env === undefined ? {} : { env: options.env }),
      ...nodeOf(options),
    },
  );
}

/** Only a binary that was given: the bench's own Node is the default. */
function nodeOf(options: { node?: string }): { node?: string } {
  return options.node === undefined ? {} : { node: options.node };
}

export interface BaselineOptions {
  /** simple-undici only: node:cluster workers (1 = a single process). */
  workers?: number;
  /** The Node binary (`--node PATH`); the bench's own by default. */
  node?: string;
}

/** bench/targets/simple-proxy.ts or bench/targets/fastify-proxy.ts: no logging, `connections` to the backend per process. */
export function startBaselineProxy(
  kind: 'simple-undici' | 'fastify',
  name: string,
  backendUrl: string,
  logPath: string,
  connections: number,
  options: BaselineOptions = {},
): Promise<Server> {
  const entry = kind === 'simple-undici' ? SIMPLE_PROXY_ENTRY : FASTIFY_PROXY_ENTRY;
  const workers = options.workers === undefined ? [] : ['--workers', String(options.workers)];
  const args = [entry, '--backend', backendUrl, '--host', '127.0.0.1', '--port', '0', '--connections', String(connections), ...workers];
  return startNode(
    name,
    args,
    logPath,
    (line) =>
      typeof line.msg === 'string' && line.msg.endsWith('listening') && typeof line.port === 'number'
        ? `http://127.0.0.1:${line.port}`
        : null,
    nodeOf(options),
  );
}
