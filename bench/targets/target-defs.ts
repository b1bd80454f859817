import { join } from 'node:path';
import type { BenchArgs } from '../bench-args.js';
import { pkgVersion } from '../report/pkg-version.js';
import type { HttpWorkloadName } from '../workloads/workloads.js';
import { type Nginx, startNginx } from './nginx.js';
import type { AltNode } from './node-binary.js';
import { PORTKEY_ABOUT, portkeyHeaders, startPortkey } from './portkey.js';
import type { Server } from './start-child.js';
import {
  DIRECT_TARGET,
  FLEET_TARGET,
  NGINX_TARGET,
  NO_LOG_TARGET,
  NO_QUEUE_TARGET,
  PLAIN_TARGET,
  PORTKEY_TARGET,
  PROXY_TARGET,
  SIMPLE_2W_TARGET,
  SIMPLE_TARGET,
} from './target-names.js';
import { fleetUrls, startBaselineProxy, startProxy } from './targets.js';
import { hasRedisServer, tenantTargetDefs } from './tenant-targets.js';

/** Backend connections each Node proxy may open (per worker for ours) in small/chat; 64 client connections need no more. */
export const HTTP_UPSTREAM_CONNECTIONS = 256;

/** A server under test, how to start it, and where it takes part. */
export interface TargetDef {
  name: string;
  /** One line for the report. */
  about: string;
  /** Starts it in front of the backend (on another Node binary when given); null for `direct` (the backend itself). */
  start: ((backend: Server, node?: AltNode) => Promise<Server>) | null;
  /** A Node server: with `--node PATH` it also runs on that binary, as `<name>-<tag>` (withNodeTwins). */
  onNode?: boolean;
  /** Headers every request to it carries (Portkey's provider and custom host). */
  headers?: (backendUrl: string) => Record<string, string>;
  /** HTTP workloads it takes part in; all when absent. */
  only?: readonly HttpWorkloadName[];
  /** stream only: the path the client asks for (default /v1/chat/completions). */
  path?: string;
}

const OUR_CONFIG = 'access log on (to a file), metrics recorded, SSE scanning, usage injection';
const SIMPLE_ABOUT =
  '`bench/targets/simple-proxy.ts`: node:http + one undici Pool, `Pool.stream()` writing the backend body straight into the response, hop-by-hop headers dropped; 1 process, no logging, no metrics';
const SIMPLE_2W_ABOUT = 'simple-undici on 2 node:cluster workers (its primary serves nothing), one Pool per worker';
const FASTIFY_ABOUT = `\`bench/targets/fastify-proxy.ts\`: fastify ${pkgVersion('fastify')} + @fastify/http-proxy ${pkgVersion('@fastify/http-proxy')} (reply-from over undici), every path forwarded; 1 process, logger off`;

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
 * side by side with the code before it, not against a figure from another day). For stream also
 * `baseline-2w-defaults`, that build as `proxy-2w-defaults`.
 */
function baselineDefs(dir: string, extraArgs: readonly string[] = [], processPrefix = '', withDefaults2w = false): TargetDef[] {
  const checkout = process.env.BENCH_BASELINE;
  if (checkout === undefined || checkout === '') return [];
  const entry = join(checkout, 'dist/src/main.js');
  // Its own log per workload: a stream run must not find the small run's (stopped) proxy ready in it.
  const variant = (name: string, about: string, workers: number, args: readonly string[]): TargetDef => {
    const processName = `${processPrefix}${name}`;
    return {
      name,
      about,
      start: (b) =>
        startProxy({ name: processName, backendUrl: b.url, workers, logPath: join(dir, `${processName}.log`), extraArgs: args, entry }),
    };
  };
  const defs = [variant('baseline-1w', `proxy-1w built from \`${checkout}\` (BENCH_BASELINE), same config`, 1, extraArgs)];
  if (withDefaults2w)
    defs.push(variant('baseline-2w-defaults', `proxy-2w-defaults built from \`${checkout}\` (BENCH_BASELINE), same config`, 2, []));
  return defs;
}

/** The process name (and log file) of `name` on `node`: `proxy-1w-node24`. */
function onNodeName(name: string, node: AltNode | undefined): string {
  return node === undefined ? name : `${name}-${node.tag}`;
}

/** Starts our proxy as `name` (its log is `<name>.log` in dir). */
function ours(dir: string, name: string, workers: number, extraArgs: readonly string[] = [], backendPath = '') {
  return (b: Server, node?: AltNode): Promise<Server> => {
    const processName = onNodeName(name, node);
    const logPath = join(dir, `${processName}.log`);
    const binary = node === undefined ? {} : { node: node.path };
    return startProxy({ name: processName, backendUrl: `${b.url}${backendPath}`, workers, logPath, extraArgs, ...binary });
  };
}

const FLEET_ABOUT = 'proxy-1w in front of 8 backends (the one backend process on 127.0.0.1 to 127.0.0.8), least-load: what selection costs';

/** Our proxy in front of the backend's 8 loopback URLs. */
function oursOnFleet(dir: string, name: string, extraArgs: readonly string[] = []) {
  return (b: Server): Promise<Server> =>
    startProxy({ name, backendUrl: fleetUrls(b.url), workers: 1, logPath: join(dir, `${name}.log`), extraArgs });
}

/** Starts bench/targets/simple-proxy.ts or bench/targets/fastify-proxy.ts as `name`. */
function baseline(dir: string, kind: BaselineKind, name: string, connections: number, workers?: number) {
  return (b: Server, node?: AltNode): Promise<Server> => {
    const processName = onNodeName(name, node);
    const options = { ...(workers === undefined ? {} : { workers }), ...(node === undefined ? {} : { node: node.path }) };
    return startBaselineProxy(kind, processName, b.url, join(dir, `${processName}.log`), connections, options);
  };
}

/** The Pool.stream proxy on 1 process and on 2 cluster workers, and fastify: the Node peers. */
function nodePeers(dir: string, prefix: string, connections: number): TargetDef[] {
  return [
    {
      name: SIMPLE_TARGET,
      about: SIMPLE_ABOUT,
      onNode: true,
      start: baseline(dir, 'simple-undici', `${prefix}simple-undici`, connections),
    },
    {
      name: SIMPLE_2W_TARGET,
      about: SIMPLE_2W_ABOUT,
      onNode: true,
      start: baseline(dir, 'simple-undici', `${prefix}${SIMPLE_2W_TARGET}`, connections, 2),
    },
    { name: 'fastify', about: FASTIFY_ABOUT, onNode: true, start: baseline(dir, 'fastify', `${prefix}fastify`, connections) },
  ];
}

/** The Portkey gateway, asked with its two headers on every request. */
export function portkeyDef(dir: string, processName: string): TargetDef {
  return {
    name: PORTKEY_TARGET,
    about: PORTKEY_ABOUT,
    onNode: true,
    headers: portkeyHeaders,
    start: (_b, node) => {
      const name = onNodeName(processName, node);
      return startPortkey(name, join(dir, `${name}.log`), node?.path);
    },
  };
}

/**
 * With `--node PATH`, every Node target also runs on that binary, right after itself in the tables (the load
 * generator stays on the bench's Node): `proxy-1w` and `proxy-1w-node24` measured in the same alternation.
 */
export function withNodeTwins(defs: readonly TargetDef[], node: AltNode | null): TargetDef[] {
  if (node === null) return [...defs];
  return defs.flatMap((def) => {
    const start = def.start;
    if (def.onNode !== true || start === null) return [def];
    const twin: TargetDef = {
      ...def,
      name: onNodeName(def.name, node),
      about: `${def.name} on Node ${node.version} (\`--node ${node.path}\`)`,
      onNode: false,
      start: (b) => start(b, node),
    };
    return [def, twin];
  });
}

/** small and chat, in the order of their tables. */
export function httpTargetDefs(dir: string, nginx: Nginx | null, node: AltNode | null = null): TargetDef[] {
  const upstream = HTTP_UPSTREAM_CONNECTIONS;
  return withNodeTwins(
    [
      { name: DIRECT_TARGET, about: 'the mock backend itself, no proxy', start: null },
      {
        name: PROXY_TARGET,
        about: `inference-proxy, 1 worker, production config: ${OUR_CONFIG}`,
        onNode: true,
        start: ours(dir, PROXY_TARGET, 1),
      },
      {
        name: NO_LOG_TARGET,
        about: 'proxy-1w with `--access-log off` (small only, for the access log cost)',
        only: ['small'],
        start: ours(dir, NO_LOG_TARGET, 1, ['--access-log', 'off']),
      },
      {
        name: NO_QUEUE_TARGET,
        about:
          'proxy-1w with `--queue off --load-interval 0`: no admission check per request, no engine reads (for the cost of the queue at light load)',
        start: ours(dir, NO_QUEUE_TARGET, 1, ['--queue', 'off', '--load-interval', '0']),
      },
      { name: FLEET_TARGET, about: FLEET_ABOUT, start: oursOnFleet(dir, FLEET_TARGET) },
      { name: 'proxy-2w', about: 'inference-proxy, 2 workers, same config as proxy-1w', onNode: true, start: ours(dir, 'proxy-2w', 2) },
      ...tenantTargetDefs(dir, '', hasRedisServer()),
      ...nodePeers(dir, '', upstream),
      ...baselineDefs(dir),
      ...nginxDefs(dir, nginx, true),
    ],
    node,
  );
}

/** stream, in the order of its tables; the processes are named `stream-…` so their logs do not mix with small/chat's. */
export function streamTargetDefs(dir: string, upstreamConnections: number, nginx: Nginx | null, node: AltNode | null = null): TargetDef[] {
  const upstream = ['--upstream-connections', String(upstreamConnections)];
  return withNodeTwins(
    [
      { name: DIRECT_TARGET, about: 'the mock backend itself', start: null },
      {
        name: PROXY_TARGET,
        about: `inference-proxy, 1 worker, production config: ${OUR_CONFIG}`,
        onNode: true,
        start: ours(dir, 'stream-proxy-1w', 1, upstream),
      },
      { name: FLEET_TARGET, about: FLEET_ABOUT, start: oursOnFleet(dir, `stream-${FLEET_TARGET}`, upstream) },
      { name: 'proxy-2w', about: 'same, 2 workers', onNode: true, start: ours(dir, 'stream-proxy-2w', 2, upstream) },
      {
        name: 'proxy-2w-defaults',
        about: 'proxy-2w with every flag at its default: `--upstream-connections` 1,024 per worker and `--max-in-flight` auto',
        start: ours(dir, 'stream-proxy-2w-defaults', 2),
      },
      {
        name: PLAIN_TARGET,
        about:
          'same as proxy-1w but `--backend-url <backend>/v1` and requests to `/chat/completions`, which the proxy forwards as an ordinary path: no body read, no injection, no scanning (still access log + request metrics)',
        start: ours(dir, 'stream-proxy-1w-plain', 1, upstream, '/v1'),
        path: '/chat/completions',
      },
      ...nodePeers(dir, 'stream-', upstreamConnections),
      portkeyDef(dir, 'stream-portkey'),
      ...baselineDefs(dir, upstream, 'stream-', true),
      ...nginxDefs(dir, nginx, false),
    ],
    node,
  );
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
