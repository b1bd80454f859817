import { availableParallelism, cpus, release, tmpdir } from 'node:os';
import type { BenchArgs } from '../bench-args.js';
import { cpuModel } from '../measurement/machine.js';
import { CLK_TCK } from '../measurement/proc-cpu.js';
import { median } from '../measurement/stats.js';
import { NGINX_INSTALL_HINT, type Nginx } from '../targets/nginx.js';
import type { AltNode } from '../targets/node-binary.js';
import { type DescribedTarget, HTTP_UPSTREAM_CONNECTIONS } from '../targets/target-defs.js';
import type { RunResult } from './http-report.js';
import { pkgVersion } from './pkg-version.js';

/** What the header says about a run: how it was started, on what, and what was measured. */
export interface HeaderFacts {
  args: BenchArgs;
  command: string;
  /** 1, 5 and 15 min load averages when the bench started. */
  startLoad: readonly number[];
  nginx: Nginx | null;
  altNode: AltNode | null;
  exitCodes: Record<string, number | null>;
  /** small/chat targets and runs, null when neither ran. */
  http: { targets: readonly DescribedTarget[]; runs: readonly RunResult[] } | null;
  withStream: boolean;
}

/** The top of the report: machine and versions, then how this run measured (with its own parameters). */
export function renderHeader(facts: HeaderFacts): string {
  const { nginx, exitCodes } = facts;
  return [
    '# inference-proxy benchmark: proxy vs backend direct, nginx, a simple undici proxy, fastify and Portkey',
    '',
    `- Date: ${new Date().toISOString()}`,
    `- Node: ${process.version}, Linux ${release()}; undici ${pkgVersion('undici')}, fastify ${pkgVersion('fastify')}, @fastify/http-proxy ${pkgVersion('@fastify/http-proxy')}, ${nginx?.version ?? 'nginx not installed'}`,
    ...(facts.altNode === null
      ? []
      : [
          `- \`--node ${facts.altNode.path}\` (${facts.altNode.version}): every Node target also ran on it, as \`<name>-${facts.altNode.tag}\`; the load generators, the backend and the bench stayed on ${process.version}.`,
        ]),
    `- CPU: ${cpuModel()}, ${cpus().length} cores (availableParallelism ${availableParallelism()}), CLK_TCK ${CLK_TCK}`,
    `- Command: \`${facts.command}\``,
    `- Load average when the bench started (1/5/15 min): ${facts.startLoad.map((l) => l.toFixed(2)).join(' / ')}`,
    ...(facts.http === null ? [] : httpMethod(facts.args, nginx, facts.http.targets, facts.http.runs)),
    ...(facts.withStream ? streamMethod(nginx, facts.http !== null) : []),
    `- Exit codes on SIGTERM: ${Object.entries(exitCodes)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
  ].join('\n');
}

function httpMethod(args: BenchArgs, nginx: Nginx | null, targets: readonly DescribedTarget[], runs: readonly RunResult[]): string[] {
  const ourLogBytes = runs
    .filter((r) => r.target.startsWith('proxy-') && r.accessLogBytesPerReq !== null)
    .map((r) => r.accessLogBytesPerReq as number);
  return [
    `- small/chat: ${args.reps} repetitions × ${args.duration} s per target and workload, ${args.connections} connections, targets alternated in the order of the tables (A B C … A B C …); a ${args.warmup} s uncounted warm-up before every measured run. Values are medians over the repetitions. All targets are started up front and stay up, idle, while another one is measured. Targets:`,
    ...targets.map((t) => `  - \`${t.name}\`: ${t.about}`),
    '- **The load generator (autocannon, in-process in the bench runner: one Node thread), the mock backend (one Node process) and the proxy under test all share the same 2 cores, with no pinning.** Absolute numbers are therefore lower bounds and every proxy competes with its own client and backend for CPU; a proxy that uses less CPU leaves more to the client and backend, so req/s rewards CPU efficiency.',
    `- Our proxy: production defaults, \`--access-log on --log-level info\`, stdout+stderr appended to a file in ${tmpdir()} (a regular disk filesystem, page cache; ~${ourLogBytes.length === 0 ? '?' : median(ourLogBytes).toFixed(0)} bytes of access log per request), deleted after the run. Metrics are always recorded by the workers; /metrics was not scraped during the table runs (see the scrape timing below). Node baselines: backend Pool of ${HTTP_UPSTREAM_CONNECTIONS} connections.`,
    `- nginx (${nginx?.version ?? 'not installed: skipped'}): config generated from \`bench/targets/nginx/nginx.conf.template\`, run as \`nginx -p <tmp> -c <tmp>/nginx.conf -e <tmp>/error.log -g 'daemon off;'\` (master + workers, CPU and RSS of both): upstream \`keepalive 64\`, \`proxy_http_version 1.1\`, \`proxy_set_header Connection ""\`, \`proxy_buffering off\`, \`proxy_request_buffering off\`, \`keepalive_requests 1000000\` on both sides (nginx's default 1000 would make clients reconnect every 1000 requests; Node servers have no such limit), \`worker_connections 8192\`.`,
    ...(nginx === null ? [`- ${NGINX_INSTALL_HINT}`] : []),
    '- Mock backend: `--ttft-ms 0 --token-delay-ms 0`, one process shared by all targets.',
    `- CPU µs/req = Δ(utime+stime) from /proc/<pid>/stat of the process tree (our proxy: primary + all workers; nginx: master + workers) ÷ responses completed. "CPU/req vs nginx" and "vs simple-undici" = that figure relative to nginx (1 worker, no access log) and to the simple undici proxy. RSS = sum of VmRSS of the tree at the end of each run. CPU % is of one core; machine busy % is of all ${cpus().length} cores (/proc/stat); "other" = machine busy minus the three measured parties (other jobs on this shared machine, the idle targets, kernel).`,
  ];
}

function streamMethod(nginx: Nginx | null, afterHttp: boolean): string[] {
  return [
    `- stream: the client (undici, in the bench process), the mock backend and the proxies share the same ${cpus().length} cores too; the other stream targets stay up, idle, while one is measured (the small/chat ones are stopped by then). CPU µs/token as for requests, per content event received; "other" = machine busy minus client, backend and proxy under test, and the part of it that is irq+softirq time from /proc/stat (loopback TCP processing that no process is charged for) is shown in parentheses; the rest of "other" is other jobs on this shared machine and the idle targets.`,
    ...(afterHttp
      ? []
      : [
          `- nginx: ${nginx?.version ?? 'not installed: skipped'}, config as described for small/chat (bench/targets/nginx/nginx.conf.template), 1 worker, access_log off.`,
        ]),
  ];
}
