import { join } from 'node:path';
import type { BenchArgs } from './bench-args.js';
import { type Nginx, startNginx } from './nginx.js';
import { pkgVersion } from './pkg-version.js';
import type { Server } from './start-child.js';
import { DIRECT_TARGET, FLEET_TARGET, NGINX_TARGET, NO_LOG_TARGET, PLAIN_TARGET, PROXY_TARGET, SIMPLE_TARGET } from './target-names.js';
import { fleetUrls, startBaselineProxy, startProxy } from './targets.js';
import type { HttpWorkloadName } from './workloads.js';

/** Backend connections each Node proxy may open (per worker for ours) in small/chat; 64 client connections need no more. */
export const HTTP_UPSTREAM_CONNECTIONS = 256;

/** A server under test, how to start it, and where it takes part. */
export interface TargetDef {
  name: string;
  /** One line for the report. */
  about: string;
  /** Starts it in front of the backend; null for `direct` (the backend itself). */
  start: ((backend: Server) => Promise<Server>) | null;
  /** HTTP workloads it takes part in; all when absent. */
  only?: readonly HttpWorkloadName[];
  /** stream only: the path the client asks for (default /v1/chat/completions). */
  path?: string;
}

const OUR_CONFIG = 'access log on (to a file), metrics recorded, SSE scanning, usage injection';
const SIMPLE_ABOUT =
  '`bench/simple-proxy.ts`: node:http + one undici Pool, body piped both ways, hop-by-hop headers dropped, abort on client close; 1 process, no logging, no metrics';
const FASTIFY_ABOUT = `\`bench/fastify-proxy.ts\`: fastify ${pkgVersion('fastify')} + @fastify/http-proxy ${pkgVersion('@fastify/http-proxy')} (reply-from over undici), every path forwarded; 1 process, logger off`;

type BaselineKind = 'simple-undici' | 'fastify';

function nginxDefs(dir: string, nginx: Nginx | null, withVariants: boolean): TargetDef[] {
  if (nginx === null) return [];
  const variant = (name: string, about: string, workers: number, accessLog: boolean): TargetDef => ({
    name,
    about,
    start: (b) => startNginx(nginx.path, name, b.url, dir, { workers, accessLog }),
  });
  const defs = [variant(NGINX_TARGET, `${nginx.version}, \`worker_processes 1\`, access_log off`, 1, false)];
  if (withVariants) {
    defs.push(
      variant('nginx-log', 'nginx with the default `combined` access log on, unbuffered, to a file (parity with our access log)', 1, true),
      variant('nginx-2w', 'nginx with `worker_processes 2`, access_log off', 2, false),
    );
  }
  return defs;
}

/**
 * BENCH_BASELINE=<a built checkout of this repository> adds target `baseline-1w`: that build's proxy, in
 * the same production config as proxy-1w, measured in the same alternation (an optimisation is judged
 * side by side with the code before it, not against a figure from another day).
 */
function baselineDefs(dir: string, extraArgs: readonly string[] = [], processPrefix = ''): TargetDef[] {
  const checkout = process.env.BENCH_BASELINE;
  if (checkout === undefined || checkout === '') return [];
  const entry = join(checkout, 'dist/src/main.js');
  const name = 'baseline-1w';
  // Its own log per workload: a stream run must not find the small run's (stopped) proxy ready in it.
  const processName = `${processPrefix}${name}`;
  return [
    {
      name,
      about: `proxy-1w built from \`${checkout}\` (BENCH_BASELINE), same config`,
      start: (b) =>
        startProxy({ name: processName, backendUrl: b.url, workers: 1, logPath: join(dir, `${processName}.log`), extraArgs, entry }),
    },
  ];
}

/** Starts our proxy as `name` (its log is `<name>.log` in dir). */
function ours(dir: string, name: string, workers: number, extraArgs: readonly string[] = [], backendPath = '') {
  return (b: Server): Promise<Server> =>
    startProxy({ name, backendUrl: `${b.url}${backendPath}`, workers, logPath: join(dir, `${name}.log`), extraArgs });
}

const FLEET_ABOUT = 'proxy-1w in front of 8 backends (the one backend process on 127.0.0.1 to 127.0.0.8), least-load: what selection costs';

/** Our proxy in front of the backend's 8 loopback URLs. */
function oursOnFleet(dir: string, name: string, extraArgs: readonly string[] = []) {
  return (b: Server): Promise<Server> =>
    startProxy({ name, backendUrl: fleetUrls(b.url), workers: 1, logPath: join(dir, `${name}.log`), extraArgs });
}

/** Starts bench/simple-proxy.ts or bench/fastify-proxy.ts as `name`. */
function baseline(dir: string, kind: BaselineKind, name: string, connections: number) {
  return (b: Server): Promise<Server> => startBaselineProxy(kind, name, b.url, join(dir, `${name}.log`), connections);
}

/** small and chat, in the order of their tables. */
export function httpTargetDefs(dir: string, nginx: Nginx | null): TargetDef[] {
  const upstream = HTTP_UPSTREAM_CONNECTIONS;
  return [
    { name: DIRECT_TARGET, about: 'the mock backend itself, no proxy', start: null },
    { name: PROXY_TARGET, about: `inference-proxy, 1 worker, production config: ${OUR_CONFIG}`, start: ours(dir, PROXY_TARGET, 1) },
    {
      name: NO_LOG_TARGET,
      about: 'proxy-1w with `--access-log off` (small only, for the access log cost)',
      only: ['small'],
      start: ours(dir, NO_LOG_TARGET, 1, ['--access-log', 'off']),
    },
    { name: FLEET_TARGET, about: FLEET_ABOUT, start: oursOnFleet(dir, FLEET_TARGET) },
    { name: 'proxy-2w', about: 'inference-proxy, 2 workers, same config as proxy-1w', start: ours(dir, 'proxy-2w', 2) },
    { name: SIMPLE_TARGET, about: SIMPLE_ABOUT, start: baseline(dir, 'simple-undici', 'simple-undici', upstream) },
    { name: 'fastify', about: FASTIFY_ABOUT, start: baseline(dir, 'fastify', 'fastify', upstream) },
    ...baselineDefs(dir),
    ...nginxDefs(dir, nginx, true),
  ];
}

/** stream, in the order of its tables; the processes are named `stream-…` so their logs do not mix with small/chat's. */
export function streamTargetDefs(dir: string, upstreamConnections: number, nginx: Nginx | null): TargetDef[] {
  const upstream = ['--upstream-connections', String(upstreamConnections)];
  return [
    { name: DIRECT_TARGET, about: 'the mock backend itself', start: null },
    {
      name: PROXY_TARGET,
      about: `inference-proxy, 1 worker, production config: ${OUR_CONFIG}`,
      start: ours(dir, 'stream-proxy-1w', 1, upstream),
    },
    { name: FLEET_TARGET, about: FLEET_ABOUT, start: oursOnFleet(dir, `stream-${FLEET_TARGET}`, upstream) },
    { name: 'proxy-2w', about: 'same, 2 workers', start: ours(dir, 'stream-proxy-2w', 2, upstream) },
    {
      name: PLAIN_TARGET,
      about:
        'same as proxy-1w but `--backend-url <backend>/v1` and requests to `/chat/completions`, which the proxy forwards as an ordinary path: no body read, no injection, no scanning (still access log + request metrics)',
      start: ours(dir, 'stream-proxy-1w-plain', 1, upstream, '/v1'),
      path: '/chat/completions',
    },
    { name: SIMPLE_TARGET, about: SIMPLE_ABOUT, start: baseline(dir, 'simple-undici', 'stream-simple-undici', upstreamConnections) },
    { name: 'fastify', about: FASTIFY_ABOUT, start: baseline(dir, 'fastify', 'stream-fastify', upstreamConnections) },
    ...baselineDefs(dir, upstream, 'stream-'),
    ...nginxDefs(dir, nginx, false),
  ];
}

/** The targets --targets names (all without it). */
export function selectTargets(defs: TargetDef[], args: BenchArgs): TargetDef[] {
  if (args.targets === null) return defs;
  return defs.filter((d) => args.targets?.includes(d.name));
}

/** An unknown name in --targets is an error that lists the known ones. */
export function checkTargetNames(args: BenchArgs, known: readonly string[]): void {
  const unknown = (args.targets ?? []).filter((t) => !known.includes(t));
  if (unknown.length > 0) throw new Error(`--targets: unknown ${unknown.join(', ')} (known: ${[...new Set(known)].join(', ')})`);
}

export function takesPart(def: TargetDef, workload: HttpWorkloadName): boolean {
  return def.only === undefined || def.only.includes(workload);
}

/** A target as started: its definition and its process (null for `direct`). */
export interface StartedTarget {
  def: TargetDef;
  proxy: Server | null;
}

/** How the report lists a target: what it is and the command that ran it. */
export interface DescribedTarget {
  name: string;
  about: string;
  command: string | null;
}

/** Starts every target up front, in order: they stay up, idle, while another one is measured. */
export async function startTargets(defs: readonly TargetDef[], backend: Server): Promise<StartedTarget[]> {
  const started: StartedTarget[] = [];
  try {
    for (const def of defs) started.push({ def, proxy: def.start === null ? null : await def.start(backend) });
  } catch (err) {
    await stopTargets(started, {});
    throw err;
  }
  return started;
}

/** Stops them, with each exit code on SIGTERM for the report. */
export async function stopTargets(started: readonly StartedTarget[], exitCodes: Record<string, number | null>): Promise<void> {
  for (const { proxy } of started) if (proxy !== null) exitCodes[proxy.name] = await proxy.stop();
}

export function describeTargets(started: readonly StartedTarget[]): DescribedTarget[] {
  return started.map(({ def, proxy }) => ({ name: def.name, about: def.about, command: proxy?.command ?? null }));
}
