import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import { type BenchArgs, parseArgs } from './args.js';
import { findNginx, NGINX_INSTALL_HINT, startNginx } from './nginx.js';
import { CLK_TCK, cpuSecondsBetween, sampleSystem, sampleTree } from './proc-cpu.js';
import {
  accessLogCost,
  findings,
  median,
  NGINX_TARGET,
  type RunResult,
  renderTable,
  SIMPLE_TARGET,
  type Summary,
  summarize,
} from './report.js';
import { measureStream, type StreamRunResult, type StreamTarget } from './stream-bench.js';
import { accountingCost, PLAIN_TARGET, renderStreamTable, type StreamSummary, streamFindings, summarizeStream } from './stream-report.js';
import { fileSize, killAllNow, type Server, sleep, startBackend, startBaselineProxy, startProxy } from './targets.js';
import { type HttpWorkloadName, isHttpWorkload, STREAM, STREAM_LIFETIME_MS, WORKLOADS, type Workload } from './workloads.js';

/** Logs of the backend and proxies; removed at the end, also on failure. */
let workDir: string | null = null;

const RESULTS_DIR = fileURLToPath(new URL('../../bench/results/', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const execFileAsync = promisify(execFile);

/** Backend connections each Node proxy may open (per worker for ours) in small/chat; 64 client connections need no more. */
const HTTP_UPSTREAM_CONNECTIONS = 256;
/** The access log may cost at most this much more proxy CPU per request (small, proxy-1w vs proxy-1w-nolog). */
const ACCESS_LOG_BUDGET_PCT = 10;
/** /metrics scrapes timed, with the proxy idle and then under the chat load. */
const SCRAPES = 10;

/** nginx binary and version, or null (its targets are skipped). */
const NGINX = findNginx();

/** A target under test: the backend itself, or a proxy in front of it. */
interface Target {
  name: string;
  url: string;
  proxy: Server | null;
}

function cannonOptions(url: string, workload: Workload, seconds: number, connections: number): autocannon.Options {
  return {
    url: url + workload.path,
    method: workload.method,
    connections,
    duration: seconds,
    timeout: 10,
    ...(workload.headers === undefined ? {} : { headers: workload.headers }),
    ...(workload.body === undefined ? {} : { body: workload.body }),
  };
}

function fire(url: string, workload: Workload, seconds: number, connections: number): Promise<autocannon.Result> {
  return autocannon(cannonOptions(url, workload, seconds, connections));
}

async function measure(target: Target, backend: Server, workload: Workload, rep: number, args: BenchArgs): Promise<RunResult> {
  await fire(target.url, workload, args.warmup, args.connections); // not counted
  await sleep(300); // let the warm-up's connections close

  const proxyBefore = target.proxy === null ? null : sampleTree(target.proxy.pid);
  const backendBefore = sampleTree(backend.pid);
  const accessLog = target.proxy?.accessLogPath ?? null;
  const logBefore = accessLog === null ? 0 : fileSize(accessLog);
  const systemBefore = sampleSystem();
  const loadgenBefore = process.cpuUsage();
  const start = performance.now();

  const result = await fire(target.url, workload, args.duration, args.connections);

  const wall = (performance.now() - start) / 1000;
  const loadgen = process.cpuUsage(loadgenBefore);
  const systemAfter = sampleSystem();
  const backendAfter = sampleTree(backend.pid);
  const proxyAfter = target.proxy === null ? null : sampleTree(target.proxy.pid);
  const logAfter = accessLog === null ? 0 : fileSize(accessLog);

  const requests = result.requests.total;
  const perReqUs = (cpuSeconds: number | null): number | null =>
    cpuSeconds === null || requests === 0 ? null : (cpuSeconds * 1e6) / requests;
  const pctOfCore = (cpuSeconds: number | null): number | null => (cpuSeconds === null ? null : (cpuSeconds / wall) * 100);
  const proxyCpu = proxyBefore === null || proxyAfter === null ? null : cpuSecondsBetween(proxyBefore, proxyAfter);
  const backendCpu = cpuSecondsBetween(backendBefore, backendAfter);
  const loadgenCpuPct = ((loadgen.user + loadgen.system) / 1e6 / wall) * 100;
  const machineBusyPct = ((systemAfter.busy - systemBefore.busy) / Math.max(1, systemAfter.total - systemBefore.total)) * 100;
  const ownCpuPct = loadgenCpuPct + (pctOfCore(backendCpu) ?? 0) + (pctOfCore(proxyCpu) ?? 0);
  return {
    workload: workload.name,
    target: target.name,
    rep,
    duration: result.duration,
    wall,
    requests,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    reqPerSec: requests / result.duration,
    latencyP50: result.latency.p50,
    latencyP99: result.latency.p99,
    latencyMean: result.latency.mean,
    proxyCpuUsPerReq: perReqUs(proxyCpu),
    backendCpuUsPerReq: perReqUs(backendCpu),
    proxyRssMb: proxyAfter === null ? null : proxyAfter.rssKb / 1024,
    proxyProcesses: proxyAfter === null ? null : proxyAfter.pids.length,
    proxyCpuPct: pctOfCore(proxyCpu),
    backendCpuPct: pctOfCore(backendCpu),
    loadgenCpuPct,
    machineBusyPct,
    otherCpuPct: Math.max(0, machineBusyPct * cpus().length - ownCpuPct),
    accessLogBytesPerReq: accessLog === null || requests === 0 ? null : (logAfter - logBefore) / requests,
  };
}

function cpuModel(): string {
  const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
  return match?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown';
}

/** A server under test, how to start it, and where it takes part. */
interface TargetDef {
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

function nginxDefs(dir: string, withVariants: boolean): TargetDef[] {
  if (NGINX === null) return [];
  const binary = NGINX.path;
  const defs: TargetDef[] = [
    {
      name: NGINX_TARGET,
      about: `${NGINX.version}, \`worker_processes 1\`, access_log off`,
      start: (b) => startNginx(binary, NGINX_TARGET, b.url, dir, { workers: 1, accessLog: false }),
    },
  ];
  if (withVariants) {
    defs.push(
      {
        name: 'nginx-log',
        about: 'nginx with the default `combined` access log on, unbuffered, to a file (parity with our access log)',
        start: (b) => startNginx(binary, 'nginx-log', b.url, dir, { workers: 1, accessLog: true }),
      },
      {
        name: 'nginx-2w',
        about: 'nginx with `worker_processes 2`, access_log off',
        start: (b) => startNginx(binary, 'nginx-2w', b.url, dir, { workers: 2, accessLog: false }),
      },
    );
  }
  return defs;
}

/**
 * BENCH_BASELINE=<a built checkout of this repository> adds target `baseline-1w`: that build's proxy, in
 * the same production config as proxy-1w, measured in the same alternation (an optimisation is judged
 * side by side with the code before it, not against a figure from another day).
 */
function baselineDefs(dir: string, extraArgs: readonly string[] = []): TargetDef[] {
  const checkout = process.env.BENCH_BASELINE;
  if (checkout === undefined || checkout === '') return [];
  const entry = join(checkout, 'dist/src/main.js');
  const name = 'baseline-1w';
  return [
    {
      name,
      about: `proxy-1w built from \`${checkout}\` (BENCH_BASELINE), same config`,
      start: (b) => startProxy(name, b.url, 1, join(dir, `${name}.log`), extraArgs, entry),
    },
  ];
}

function httpTargetDefs(dir: string): TargetDef[] {
  const log = (name: string): string => join(dir, `${name}.log`);
  const baseline = (kind: 'simple-undici' | 'fastify') => (b: Server) =>
    startBaselineProxy(kind, kind, b.url, log(kind), HTTP_UPSTREAM_CONNECTIONS);
  return [
    { name: 'direct', about: 'the mock backend itself, no proxy', start: null },
    {
      name: 'proxy-1w',
      about: `inference-proxy, 1 worker, production config: ${OUR_CONFIG}`,
      start: (b) => startProxy('proxy-1w', b.url, 1, log('proxy-1w')),
    },
    {
      name: 'proxy-1w-nolog',
      about: 'proxy-1w with `--access-log off` (small only, for the access log cost)',
      only: ['small'],
      start: (b) => startProxy('proxy-1w-nolog', b.url, 1, log('proxy-1w-nolog'), ['--access-log', 'off']),
    },
    {
      name: 'proxy-2w',
      about: 'inference-proxy, 2 workers, same config as proxy-1w',
      start: (b) => startProxy('proxy-2w', b.url, 2, log('proxy-2w')),
    },
    { name: SIMPLE_TARGET, about: SIMPLE_ABOUT, start: baseline('simple-undici') },
    { name: 'fastify', about: FASTIFY_ABOUT, start: baseline('fastify') },
    ...baselineDefs(dir),
    ...nginxDefs(dir, true),
  ];
}

const SIMPLE_ABOUT =
  '`bench/simple-proxy.ts`: node:http + one undici Pool, body piped both ways, hop-by-hop headers dropped, abort on client close; 1 process, no logging, no metrics';
const FASTIFY_ABOUT = `\`bench/fastify-proxy.ts\`: fastify ${pkgVersion('fastify')} + @fastify/http-proxy ${pkgVersion('@fastify/http-proxy')} (reply-from over undici), every path forwarded; 1 process, logger off`;

function streamTargetDefs(dir: string, upstreamConnections: number): TargetDef[] {
  const log = (name: string): string => join(dir, `${name}.log`);
  const upstream = ['--upstream-connections', String(upstreamConnections)];
  const baseline = (kind: 'simple-undici' | 'fastify') => (b: Server) =>
    startBaselineProxy(kind, `stream-${kind}`, b.url, log(`stream-${kind}`), upstreamConnections);
  return [
    { name: 'direct', about: 'the mock backend itself', start: null },
    {
      name: 'proxy-1w',
      about: `inference-proxy, 1 worker, production config: ${OUR_CONFIG}`,
      start: (b) => startProxy('stream-proxy-1w', b.url, 1, log('stream-proxy-1w'), upstream),
    },
    { name: 'proxy-2w', about: 'same, 2 workers', start: (b) => startProxy('stream-proxy-2w', b.url, 2, log('stream-proxy-2w'), upstream) },
    {
      name: PLAIN_TARGET,
      about:
        'same as proxy-1w but `--backend-url <backend>/v1` and requests to `/chat/completions`, which the proxy forwards as an ordinary path: no body read, no injection, no scanning (still access log + request metrics)',
      start: (b) => startProxy('stream-proxy-1w-plain', `${b.url}/v1`, 1, log('stream-proxy-1w-plain'), upstream),
      path: '/chat/completions',
    },
    { name: SIMPLE_TARGET, about: SIMPLE_ABOUT, start: baseline('simple-undici') },
    { name: 'fastify', about: FASTIFY_ABOUT, start: baseline('fastify') },
    ...baselineDefs(dir, upstream),
    ...nginxDefs(dir, false),
  ];
}

function pkgVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

/** The targets --targets names (all without it); an unknown name is an error. */
function selected(defs: TargetDef[], args: BenchArgs): TargetDef[] {
  if (args.targets === null) return defs;
  return defs.filter((d) => args.targets?.includes(d.name));
}

function checkTargetNames(args: BenchArgs, known: readonly string[]): void {
  const unknown = (args.targets ?? []).filter((t) => !known.includes(t));
  if (unknown.length > 0) throw new Error(`--targets: unknown ${unknown.join(', ')} (known: ${[...new Set(known)].join(', ')})`);
}

function takesPart(def: TargetDef, workload: HttpWorkloadName): boolean {
  return def.only === undefined || def.only.includes(workload);
}

interface ScrapeTiming {
  scrapes: number;
  statuses: number[];
  p50Ms: number;
  maxMs: number;
  bytes: number;
  /** Proxy process-tree CPU over the scrape window. */
  proxyCpuPct: number | null;
  proxyCpuMs: number | null;
  /** Under load only: chat responses completed inside the window, and proxy CPU per response. */
  reqPerSec: number | null;
  proxyCpuUsPerReq: number | null;
}

export interface ScrapeReport {
  target: string;
  idle: ScrapeTiming;
  busy: ScrapeTiming;
}

/** One GET /metrics by curl (a separate process, so the load generator's event loop is not in the timing). */
async function curlScrape(url: string): Promise<{ status: number; ms: number; bytes: number }> {
  const { stdout } = await execFileAsync('curl', [
    '-s',
    '-o',
    '/dev/null',
    '--max-time',
    '10',
    '-w',
    '%{http_code} %{time_total} %{size_download}',
    url,
  ]);
  const [status, seconds, bytes] = stdout.trim().split(' ').map(Number);
  return { status: status ?? 0, ms: (seconds ?? 0) * 1000, bytes: bytes ?? 0 };
}

/** SCRAPES scrapes `spacingMs` apart (back to back when 0), with the proxy's CPU over them. */
async function timeScrapes(proxy: Server, spacingMs: number, responsesSoFar: () => number): Promise<ScrapeTiming> {
  const before = sampleTree(proxy.pid);
  const responsesBefore = responsesSoFar();
  const start = performance.now();
  const results: { status: number; ms: number; bytes: number }[] = [];
  for (let i = 0; i < SCRAPES; i++) {
    const at = performance.now();
    results.push(await curlScrape(`${proxy.url}/metrics`));
    if (spacingMs > 0) await sleep(Math.max(0, at + spacingMs - performance.now()));
  }
  const wall = (performance.now() - start) / 1000;
  const after = sampleTree(proxy.pid);
  const responses = responsesSoFar() - responsesBefore;
  const cpu = cpuSecondsBetween(before, after);
  const ms = results.map((r) => r.ms);
  return {
    scrapes: results.length,
    statuses: [...new Set(results.map((r) => r.status))],
    p50Ms: median(ms),
    maxMs: Math.max(...ms),
    bytes: median(results.map((r) => r.bytes)),
    proxyCpuPct: cpu === null ? null : (cpu / wall) * 100,
    proxyCpuMs: cpu === null ? null : cpu * 1000,
    reqPerSec: spacingMs > 0 ? responses / wall : null,
    proxyCpuUsPerReq: cpu === null || responses === 0 || spacingMs === 0 ? null : (cpu * 1e6) / responses,
  };
}

/** /metrics on proxy-2w: idle, then while the chat workload keeps both workers busy. */
async function scrapeTiming(target: Target, args: BenchArgs): Promise<ScrapeReport> {
  const proxy = target.proxy as Server;
  const idle = await timeScrapes(proxy, 0, () => 0);
  const workload = WORKLOADS.chat;
  let responses = 0;
  let settle: (err: unknown, result: autocannon.Result) => void = () => {};
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    settle = (err, result) => (err ? reject(err) : resolve(result));
  });
  const instance = autocannon(cannonOptions(target.url, workload, args.duration + 2, args.connections), (err, result) =>
    settle(err, result),
  );
  instance.on('response', () => {
    responses++;
  });
  await sleep(1000); // the load is up
  const busy = await timeScrapes(proxy, (args.duration * 1000) / SCRAPES, () => responses);
  await done;
  return { target: target.name, idle, busy };
}

function renderScrapes(report: ScrapeReport, args: BenchArgs, withoutScrapes: Summary | undefined): string {
  const fmt = (v: number | null | undefined, digits = 0): string =>
    v === null || v === undefined ? '–' : v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const { idle, busy } = report;
  const perScrape = idle.proxyCpuMs === null ? null : idle.proxyCpuMs / idle.scrapes;
  return [
    `### /metrics scrape timing (${report.target}, both workers busy)`,
    '',
    `${SCRAPES} scrapes of \`GET /metrics\` by curl (its own process, a new connection each; time = curl's time_total), first back to back with the proxy idle, then spread over ${args.duration} s while the chat workload (${args.connections} connections) runs against ${report.target}. Every scrape makes the worker that gets it ask the primary, which collects every worker's registry and merges them. Proxy CPU = process tree (primary + workers) over the scrape window.`,
    '',
    '| condition | scrapes | HTTP status | scrape p50 ms | scrape max ms | body KB | proxy CPU | chat req/s | proxy CPU µs per chat req |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    `| idle | ${idle.scrapes} | ${idle.statuses.join(', ')} | ${fmt(idle.p50Ms, 1)} | ${fmt(idle.maxMs, 1)} | ${fmt(idle.bytes / 1024, 1)} | ${fmt(perScrape, 1)} ms per scrape | – | – |`,
    `| chat load | ${busy.scrapes} | ${busy.statuses.join(', ')} | ${fmt(busy.p50Ms, 1)} | ${fmt(busy.maxMs, 1)} | ${fmt(busy.bytes / 1024, 1)} | ${fmt(busy.proxyCpuPct)}% of a core | ${fmt(busy.reqPerSec)} | ${fmt(busy.proxyCpuUsPerReq)} |`,
    `| chat load, no scrapes (medians of the chat runs above) | – | – | – | – | – | ${fmt(withoutScrapes?.proxyCpuPct)}% of a core | ${fmt(withoutScrapes?.reqPerSec)} | ${fmt(withoutScrapes?.proxyCpuUsPerReq)} |`,
  ].join('\n');
}

/** small and chat: autocannon against every target in turn (A B C … A B C …), all started up front. */
async function runHttpWorkloads(
  names: readonly HttpWorkloadName[],
  backend: Server,
  args: BenchArgs,
  progress: () => string,
  exitCodes: Record<string, number | null>,
): Promise<{
  runs: RunResult[];
  sections: string[];
  summaries: Record<string, Summary[]>;
  targets: { name: string; about: string; command: string | null }[];
  scrapes: ScrapeReport | null;
}> {
  const defs = selected(httpTargetDefs(workDir as string), args).filter((d) => names.some((n) => takesPart(d, n)));
  const targets: (Target & { def: TargetDef })[] = [];
  for (const def of defs) {
    const proxy = def.start === null ? null : await def.start(backend);
    targets.push({ name: def.name, url: proxy?.url ?? backend.url, proxy, def });
  }
  const runs: RunResult[] = [];
  let scrapes: ScrapeReport | null = null;
  try {
    for (const name of names) {
      const workload = WORKLOADS[name];
      for (let rep = 1; rep <= args.reps; rep++) {
        for (const target of targets.filter((t) => takesPart(t.def, name))) {
          const run = await measure(target, backend, workload, rep, args);
          runs.push(run);
          console.error(
            `[${progress()}] ${name} ${target.name} rep ${rep}: ${Math.round(run.reqPerSec)} req/s, p99 ${run.latencyP99} ms, ` +
              `proxy ${run.proxyCpuUsPerReq?.toFixed(0) ?? '-'} µs/req, CPU% backend ${run.backendCpuPct?.toFixed(0)} proxy ${run.proxyCpuPct?.toFixed(0) ?? '-'} loadgen ${run.loadgenCpuPct.toFixed(0)}` +
              (run.non2xx + run.errors + run.timeouts > 0
                ? `, FAILED ${run.non2xx} non-2xx ${run.errors} errors ${run.timeouts} timeouts`
                : ''),
          );
        }
      }
    }
    const proxy2 = targets.find((t) => t.name === 'proxy-2w');
    if (names.includes('chat') && proxy2 !== undefined) {
      scrapes = await scrapeTiming(proxy2, args);
      console.error(
        `[scrapes] ${proxy2.name}: idle p50 ${scrapes.idle.p50Ms.toFixed(1)} ms, under chat load p50 ${scrapes.busy.p50Ms.toFixed(1)} max ${scrapes.busy.maxMs.toFixed(1)} ms`,
      );
    }
  } finally {
    for (const target of targets) if (target.proxy !== null) exitCodes[target.proxy.name] = await target.proxy.stop();
  }

  const sections: string[] = [];
  const summaries: Record<string, Summary[]> = {};
  for (const name of names) {
    const list = targets
      .filter((t) => takesPart(t.def, name))
      .map((t) =>
        summarize(
          t.name,
          runs.filter((r) => r.workload === name && r.target === t.name),
        ),
      );
    summaries[name] = list;
    const notes = findings(name, list);
    const logBytes = runs
      .filter((r) => r.workload === name && r.accessLogBytesPerReq !== null)
      .map((r) => `${r.target} ${r.accessLogBytesPerReq?.toFixed(0)}`);
    const perTargetLog = [...new Set(logBytes.map((l) => l.split(' ')[0]))].map((t) => {
      const values = runs.filter((r) => r.workload === name && r.target === t).map((r) => r.accessLogBytesPerReq as number);
      return `${t} ${median(values).toFixed(0)} B`;
    });
    const section = [
      `## ${name}: ${WORKLOADS[name].title}`,
      '',
      renderTable(list),
      '',
      ...(notes.length === 0 ? ['No saturation or failure flagged.'] : notes.map((n) => `- ${n}`)),
      ...(perTargetLog.length === 0 ? [] : [`- Access log written per request: ${perTargetLog.join(', ')}.`]),
    ];
    if (name === 'small' && list.some((s) => s.target === 'proxy-1w-nolog')) {
      section.push(
        '',
        '### small: access log on vs off (proxy-1w vs proxy-1w-nolog)',
        '',
        ...accessLogCost(
          'proxy-1w',
          'proxy-1w-nolog',
          runs.filter((r) => r.workload === 'small'),
          ACCESS_LOG_BUDGET_PCT,
        ),
      );
    }
    if (name === 'chat' && scrapes !== null) {
      section.push(
        '',
        renderScrapes(
          scrapes,
          args,
          list.find((s) => s.target === scrapes?.target),
        ),
      );
    }
    sections.push(section.join('\n'));
  }
  const described = targets.map((t) => ({ name: t.name, about: t.def.about, command: t.proxy?.command ?? null }));
  return { runs, sections, summaries, targets: described, scrapes };
}

/** stream: undici client keeping N SSE streams open against every target in turn. */
async function runStreamWorkload(
  backend: Server,
  args: BenchArgs,
  progress: () => string,
  exitCodes: Record<string, number | null>,
): Promise<{
  runs: StreamRunResult[];
  section: string;
  summaries: Record<string, StreamSummary[]>;
  targets: { name: string; about: string; command: string | null }[];
}> {
  // Our default (256 backend connections per worker) would queue streams beyond 256 inside the proxy; the Node baselines get the same.
  const upstreamConnections = Math.max(256, ...args.streams);
  const defs = selected(streamTargetDefs(workDir as string, upstreamConnections), args);
  const targets: (StreamTarget & { def: TargetDef })[] = [];
  const runs: StreamRunResult[] = [];
  try {
    for (const def of defs) {
      const proxy = def.start === null ? null : await def.start(backend);
      targets.push({ name: def.name, origin: proxy?.url ?? backend.url, path: def.path ?? '/v1/chat/completions', proxy, def });
    }
    for (const streams of args.streams) {
      for (let rep = 1; rep <= args.reps; rep++) {
        for (const target of targets) {
          const run = await measureStream(target, backend, streams, rep, args);
          runs.push(run);
          console.error(
            `[${progress()}] stream ${streams} ${target.name} rep ${rep}: ${Math.round(run.tokensPerSec)} tok/s, ` +
              `proxy ${run.proxyCpuUsPerToken?.toFixed(1) ?? '-'} µs/tok, backend ${run.backendCpuUsPerToken?.toFixed(1)} µs/tok, ` +
              `TTFT p50 ${run.ttftP50?.toFixed(1)} ms, gap p50/p99 ${run.gapP50?.toFixed(2)}/${run.gapP99?.toFixed(2)} ms, lost ${run.lostTokens}, failed ${run.failed}, ` +
              `CPU% backend ${run.backendCpuPct?.toFixed(0)} proxy ${run.proxyCpuPct?.toFixed(0) ?? '-'} loadgen ${run.loadgenCpuPct.toFixed(0)}` +
              (run.errorSamples.length > 0 ? ` errors: ${run.errorSamples.join('; ')}` : ''),
          );
          await sleep(300); // let the closed connections settle
        }
      }
    }
  } finally {
    for (const target of targets) if (target.proxy !== null) exitCodes[target.proxy.name] = await target.proxy.stop();
  }

  const names = targets.map((t) => t.name);
  const summaries: Record<string, StreamSummary[]> = {};
  const tables: string[] = [];
  for (const streams of args.streams) {
    const list = names.map((t) =>
      summarizeStream(
        t,
        streams,
        runs.filter((r) => r.streams === streams && r.target === t),
      ),
    );
    summaries[String(streams)] = list;
    const notes = [...accountingCost(list), ...streamFindings(list)];
    tables.push(
      [
        `### stream: ${streams} concurrent streams`,
        '',
        `${streams} streams kept open (each one that ends is replaced at once), ${STREAM.tokens} tokens each ${STREAM.tokenDelayMs} ms apart, ` +
          `${args.reps} × ${args.duration} s per target, medians; per-token CPU = process-tree CPU over the window ÷ content events the client received in it.`,
        '',
        renderStreamTable(list),
        '',
        ...notes.map((n) => `- ${n}`),
      ].join('\n'),
    );
  }
  const intro = [
    `## stream: streamed POST chat completions, ${STREAM.tokens} tokens ${STREAM.tokenDelayMs} ms apart, ttft ${STREAM.ttftMs} ms`,
    '',
    `- Client: an undici Pool (one connection per stream) in the bench process, \`request()\` and reading every body chunk; the request has \`"stream":true\` and no \`stream_options\` (it does not ask for usage). Backend pacing per request: \`x-mock-ttft-ms: ${STREAM.ttftMs}\`, \`x-mock-token-delay-ms: ${STREAM.tokenDelayMs}\` (the mock writes each event separately).`,
    `- Each run: the N streams start spread evenly over one stream lifetime (${STREAM_LIFETIME_MS} ms) so they are not in lockstep; ${Math.max(args.warmup, Math.ceil((STREAM_LIFETIME_MS + 1000) / 1000))} s uncounted warm-up; a ${args.duration} s measured window; then no new streams and up to ${((STREAM_LIFETIME_MS + 5000) / 1000).toFixed(1)} s for the open ones to end (the rest would be aborted and counted as failed). Targets alternated (${names.join(', ')}, …), all started up front and idle while another one is measured.`,
    `- Targets: ${targets.map((t) => `\`${t.name}\` = ${t.def.about}`).join('; ')}. Our proxies with \`--upstream-connections ${upstreamConnections}\`, the Node baselines with an undici Pool of ${upstreamConnections} connections, so no stream queues for a backend connection; nginx opens what it needs (\`keepalive 64\` only bounds the idle ones it keeps). With injection (proxy-1w, proxy-2w) the backend adds \`"usage":null\` to every chunk (~13 more bytes/token relayed) and sends one usage chunk that the proxy removes.`,
    '- Columns: tokens = content events (`"content":" tok…`) counted by the client inside the window; tokens lost = Σ over every stream of the run (warm-up and drain included) of 128 − tokens received; TTFT = request start → first content event, for streams started in the window; gap = time between two consecutive content events of a stream as the client reads them (~20 ms means each token is relayed on its own; < 1 ms = it came in the same burst as the previous one, counted in "tokens < 1 ms after previous %"); usage chunks seen = usage-only chunks that reached the client (must be 0: the client did not ask); RSS = VmRSS of the process tree (primary + workers, nginx master + worker): idle (just before the ramp-up of the run), window (median of 3 samples at 25/50/75 % of the window), end (end of window, streams still open); "vs nginx" / "vs simple-undici" = proxy CPU per token relative to theirs.',
  ].join('\n');
  const described = targets.map((t) => ({ name: t.name, about: t.def.about, command: t.proxy?.command ?? null }));
  return { runs, section: [intro, ...tables, ...rssSlope(args.streams, names, summaries)].join('\n\n'), summaries, targets: described };
}

/**
 * Memory per open stream from two stream counts: the difference of the window RSS medians, so the garbage a
 * process carries regardless of load cancels out (unlike window minus idle, which depends on when V8 last collected).
 */
function rssSlope(streamCounts: readonly number[], names: readonly string[], summaries: Record<string, StreamSummary[]>): string[] {
  const low = Math.min(...streamCounts);
  const high = Math.max(...streamCounts);
  if (low === high) return [];
  const lines = names
    .filter((t) => t !== 'direct')
    .map((target) => {
      const at = (n: number): number | null => summaries[String(n)]?.find((s) => s.target === target)?.proxyWindowRssMb ?? null;
      const a = at(low);
      const b = at(high);
      const slope = a === null || b === null ? '–' : (((b - a) / (high - low)) * 1000).toFixed(1);
      return `| ${target} | ${a?.toFixed(0) ?? '–'} | ${b?.toFixed(0) ?? '–'} | ${slope} |`;
    });
  return [
    [
      `### stream: proxy memory per open stream (${low} vs ${high} streams)`,
      '',
      `Window RSS (median of the in-window samples, whole process tree) at ${low} and ${high} open streams, and the slope in MB per 1,000 open streams.`,
      '',
      `| target | RSS MB at ${low} | RSS MB at ${high} | MB per 1k streams |`,
      '| --- | --- | --- | --- |',
      ...lines,
    ].join('\n'),
  ];
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const startLoad = loadavg();
  const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim();
  const httpNames = args.workloads.filter(isHttpWorkload);
  const withStream = args.workloads.includes('stream');
  if (NGINX === null) console.error(`bench: ${NGINX_INSTALL_HINT}`);
  const knownNames = [...(httpNames.length > 0 ? httpTargetDefs('') : []), ...(withStream ? streamTargetDefs('', 256) : [])].map(
    (d) => d.name,
  );
  checkTargetNames(args, knownNames);
  const httpDefs = selected(httpTargetDefs(''), args);
  const httpRuns = httpNames.reduce((sum, name) => sum + httpDefs.filter((d) => takesPart(d, name)).length, 0) * args.reps;
  const streamTargetCount = selected(streamTargetDefs('', 256), args).length;
  const streamRuns = withStream ? args.streams.length * args.reps * streamTargetCount : 0;
  const totalRuns = httpRuns + streamRuns;
  const streamRunS = args.duration + Math.max(args.warmup, (STREAM_LIFETIME_MS + 1000) / 1000) + (STREAM_LIFETIME_MS + 5000) / 1000 + 2;
  const scrapeS = httpNames.includes('chat') ? args.duration + 20 : 0;
  const budgetS = Math.ceil(httpRuns * (args.duration + args.warmup + 3) + streamRuns * streamRunS + scrapeS + 180);
  const watchdog = setTimeout(() => {
    console.error(`bench: over its ${budgetS} s time budget, killing everything`);
    killAllNow();
    process.exit(1);
  }, budgetS * 1000);

  workDir = mkdtempSync(join(tmpdir(), 'inference-proxy-bench-'));
  console.error(`bench: ${totalRuns} runs of ${args.duration} s (plus warm-up each); logs in ${workDir}; time budget ${budgetS} s`);
  const backend = await startBackend(join(workDir, 'backend.log'));
  let done = 0;
  const progress = (): string => `${++done}/${totalRuns}`;
  const exitCodes: Record<string, number | null> = {};

  const http = httpNames.length === 0 ? null : await runHttpWorkloads(httpNames, backend, args, progress, exitCodes);
  const stream = withStream ? await runStreamWorkload(backend, args, progress, exitCodes) : null;
  exitCodes[backend.name] = await backend.stop();
  clearTimeout(watchdog);

  const ourLogBytes = (http?.runs ?? [])
    .filter((r) => r.target.startsWith('proxy-') && r.accessLogBytesPerReq !== null)
    .map((r) => r.accessLogBytesPerReq as number);
  const targetLines = (list: { name: string; about: string }[]): string[] => list.map((t) => `  - \`${t.name}\`: ${t.about}`);
  const httpHeader =
    http === null
      ? []
      : [
          `- small/chat: ${args.reps} repetitions × ${args.duration} s per target and workload, ${args.connections} connections, targets alternated in the order of the tables (A B C … A B C …); a ${args.warmup} s uncounted warm-up before every measured run. Values are medians over the repetitions. All targets are started up front and stay up, idle, while another one is measured. Targets:`,
          ...targetLines(http.targets),
          '- **The load generator (autocannon, in-process in the bench runner: one Node thread), the mock backend (one Node process) and the proxy under test all share the same 2 cores, with no pinning.** Absolute numbers are therefore lower bounds and every proxy competes with its own client and backend for CPU; a proxy that uses less CPU leaves more to the client and backend, so req/s rewards CPU efficiency.',
          `- Our proxy: production defaults, \`--access-log on --log-level info\`, stdout+stderr appended to a file in ${tmpdir()} (a regular disk filesystem, page cache; ~${ourLogBytes.length === 0 ? '?' : median(ourLogBytes).toFixed(0)} bytes of access log per request), deleted after the run. Metrics are always recorded by the workers; /metrics was not scraped during the table runs (see the scrape timing below). Node baselines: backend Pool of ${HTTP_UPSTREAM_CONNECTIONS} connections.`,
          `- nginx (${NGINX?.version ?? 'not installed: skipped'}): config generated from \`bench/nginx/nginx.conf.template\`, run as \`nginx -p <tmp> -c <tmp>/nginx.conf -e <tmp>/error.log -g 'daemon off;'\` (master + workers, CPU and RSS of both): upstream \`keepalive 64\`, \`proxy_http_version 1.1\`, \`proxy_set_header Connection ""\`, \`proxy_buffering off\`, \`proxy_request_buffering off\`, \`keepalive_requests 1000000\` on both sides (nginx's default 1000 would make clients reconnect every 1000 requests; Node servers have no such limit), \`worker_connections 8192\`.`,
          ...(NGINX === null ? [`- ${NGINX_INSTALL_HINT}`] : []),
          '- Mock backend: `--ttft-ms 0 --token-delay-ms 0`, one process shared by all targets.',
          `- CPU µs/req = Δ(utime+stime) from /proc/<pid>/stat of the process tree (our proxy: primary + all workers; nginx: master + workers) ÷ responses completed. "CPU/req vs nginx" and "vs simple-undici" = that figure relative to nginx (1 worker, no access log) and to the simple undici proxy. RSS = sum of VmRSS of the tree at the end of each run. CPU % is of one core; machine busy % is of all ${cpus().length} cores (/proc/stat); "other" = machine busy minus the three measured parties (other jobs on this shared machine, the idle targets, kernel).`,
        ];
  const streamHeader = withStream
    ? [
        `- stream: the client (undici, in the bench process), the mock backend and the proxies share the same ${cpus().length} cores too; the other stream targets stay up, idle, while one is measured (the small/chat ones are stopped by then). CPU µs/token as for requests, per content event received; "other" = machine busy minus client, backend and proxy under test, and the part of it that is irq+softirq time from /proc/stat (loopback TCP processing that no process is charged for) is shown in parentheses; the rest of "other" is other jobs on this shared machine and the idle targets.`,
        ...(http === null
          ? [
              `- nginx: ${NGINX?.version ?? 'not installed: skipped'}, config as described for small/chat (bench/nginx/nginx.conf.template), 1 worker, access_log off.`,
            ]
          : []),
      ]
    : [];
  const header = [
    '# inference-proxy benchmark: proxy vs backend direct, nginx, a simple undici proxy and fastify',
    '',
    `- Date: ${new Date().toISOString()}`,
    `- Node: ${process.version}, Linux ${release()}; undici ${pkgVersion('undici')}, fastify ${pkgVersion('fastify')}, @fastify/http-proxy ${pkgVersion('@fastify/http-proxy')}, ${NGINX?.version ?? 'nginx not installed'}`,
    `- CPU: ${cpuModel()}, ${cpus().length} cores (availableParallelism ${availableParallelism()}), CLK_TCK ${CLK_TCK}`,
    `- Command: \`${command}\``,
    `- Load average when the bench started (1/5/15 min): ${startLoad.map((l) => l.toFixed(2)).join(' / ')}`,
    ...httpHeader,
    ...streamHeader,
    `- Exit codes on SIGTERM: ${Object.entries(exitCodes)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
  ].join('\n');

  const sections = [...(http?.sections ?? []), ...(stream === null ? [] : [stream.section])];
  const markdown = `${header}\n\n${sections.join('\n\n')}\n`;
  console.log(markdown);
  mkdirSync(RESULTS_DIR, { recursive: true });
  // Also under a name per workload set, so a small/chat run and a stream run do not overwrite each other.
  const tag = [...httpNames, ...(withStream ? [`stream-${args.streams.join('-')}`] : []), ...(args.targets ?? [])].join('-');
  writeFileSync(join(RESULTS_DIR, 'latest.md'), markdown);
  writeFileSync(join(RESULTS_DIR, `compare-${tag}.md`), markdown);
  const json = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpuModel(),
    cores: cpus().length,
    command,
    args,
    versions: {
      undici: pkgVersion('undici'),
      fastify: pkgVersion('fastify'),
      fastifyHttpProxy: pkgVersion('@fastify/http-proxy'),
      nginx: NGINX?.version ?? null,
    },
    exitCodes,
    targets: http?.targets ?? [],
    summaries: http?.summaries ?? {},
    runs: http?.runs ?? [],
    metricsScrapes: http?.scrapes ?? null,
    stream:
      stream === null
        ? null
        : { workload: STREAM, lifetimeMs: STREAM_LIFETIME_MS, targets: stream.targets, summaries: stream.summaries, runs: stream.runs },
  };
  writeFileSync(join(RESULTS_DIR, 'latest.json'), `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(join(RESULTS_DIR, `compare-${tag}.json`), `${JSON.stringify(json, null, 2)}\n`);
  console.error(`bench: wrote ${join(RESULTS_DIR, 'latest.md')} and latest.json (also as compare-${tag}.md/.json)`);
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    console.error(`bench: ${signal}, killing child processes`);
    killAllNow();
    process.exit(130);
  });
}
process.once('exit', () => {
  killAllNow();
  if (workDir !== null) rmSync(workDir, { recursive: true, force: true });
});

main().catch((err: unknown) => {
  console.error('bench: failed:', err);
  killAllNow();
  process.exit(1);
});
