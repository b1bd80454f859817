import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { type BenchArgs, parseArgs } from './args.js';
import { CLK_TCK, cpuSecondsBetween, sampleSystem, sampleTree } from './proc-cpu.js';
import { findings, median, type RunResult, renderTable, type Summary, summarize } from './report.js';
import { measureStream, type StreamRunResult, type StreamTarget } from './stream-bench.js';
import { accountingCost, PLAIN_TARGET, renderStreamTable, type StreamSummary, streamFindings, summarizeStream } from './stream-report.js';
import { fileSize, killAllNow, type Server, sleep, startBackend, startProxy } from './targets.js';
import { type HttpWorkloadName, isHttpWorkload, STREAM, STREAM_LIFETIME_MS, WORKLOADS, type Workload } from './workloads.js';

/** Logs of the backend and proxies; removed at the end, also on failure. */
let workDir: string | null = null;

const RESULTS_DIR = fileURLToPath(new URL('../../bench/results/', import.meta.url));

/** A target under test: the backend itself, or a proxy in front of it. */
interface Target {
  name: string;
  url: string;
  proxy: Server | null;
}

function fire(url: string, workload: Workload, seconds: number, connections: number): Promise<autocannon.Result> {
  return autocannon({
    url: url + workload.path,
    method: workload.method,
    connections,
    duration: seconds,
    timeout: 10,
    ...(workload.headers === undefined ? {} : { headers: workload.headers }),
    ...(workload.body === undefined ? {} : { body: workload.body }),
  });
}

async function measure(target: Target, backend: Server, workload: Workload, rep: number, args: BenchArgs): Promise<RunResult> {
  await fire(target.url, workload, args.warmup, args.connections); // not counted
  await sleep(300); // let the warm-up's connections close

  const proxyBefore = target.proxy === null ? null : sampleTree(target.proxy.pid);
  const backendBefore = sampleTree(backend.pid);
  const logBefore = target.proxy === null ? 0 : fileSize(target.proxy.logPath);
  const systemBefore = sampleSystem();
  const loadgenBefore = process.cpuUsage();
  const start = performance.now();

  const result = await fire(target.url, workload, args.duration, args.connections);

  const wall = (performance.now() - start) / 1000;
  const loadgen = process.cpuUsage(loadgenBefore);
  const systemAfter = sampleSystem();
  const backendAfter = sampleTree(backend.pid);
  const proxyAfter = target.proxy === null ? null : sampleTree(target.proxy.pid);
  const logAfter = target.proxy === null ? 0 : fileSize(target.proxy.logPath);

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
    accessLogBytesPerReq: target.proxy === null || requests === 0 ? null : (logAfter - logBefore) / requests,
  };
}

function cpuModel(): string {
  const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
  return match?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown';
}

const HTTP_TARGETS = ['direct', 'proxy-1w', 'proxy-2w'];
const STREAM_TARGETS = ['direct', 'proxy-1w', 'proxy-1w-noinject', PLAIN_TARGET];

/** small and chat: autocannon against the backend, a 1-worker and a 2-worker proxy. */
async function runHttpWorkloads(
  names: readonly HttpWorkloadName[],
  backend: Server,
  args: BenchArgs,
  progress: () => string,
  exitCodes: Record<string, number | null>,
): Promise<{ runs: RunResult[]; sections: string[]; summaries: Record<string, Summary[]> }> {
  const dir = workDir as string;
  const proxy1 = await startProxy('proxy-1w', backend.url, 1, join(dir, 'proxy-1w.log'));
  const proxy2 = await startProxy('proxy-2w', backend.url, 2, join(dir, 'proxy-2w.log'));
  const targets: Target[] = [
    { name: 'direct', url: backend.url, proxy: null },
    { name: 'proxy-1w', url: proxy1.url, proxy: proxy1 },
    { name: 'proxy-2w', url: proxy2.url, proxy: proxy2 },
  ];
  const runs: RunResult[] = [];
  for (const name of names) {
    const workload = WORKLOADS[name];
    for (let rep = 1; rep <= args.reps; rep++) {
      for (const target of targets) {
        const run = await measure(target, backend, workload, rep, args);
        runs.push(run);
        console.error(
          `[${progress()}] ${name} ${target.name} rep ${rep}: ${Math.round(run.reqPerSec)} req/s, p99 ${run.latencyP99} ms, ` +
            `backend ${run.backendCpuPct?.toFixed(0)}%, proxy ${run.proxyCpuPct?.toFixed(0) ?? '-'}%, loadgen ${run.loadgenCpuPct.toFixed(0)}%`,
        );
      }
    }
  }
  for (const server of [proxy1, proxy2]) exitCodes[server.name] = await server.stop();

  const sections: string[] = [];
  const summaries: Record<string, Summary[]> = {};
  for (const name of names) {
    const list = HTTP_TARGETS.map((t) =>
      summarize(
        t,
        runs.filter((r) => r.workload === name && r.target === t),
      ),
    );
    summaries[name] = list;
    const notes = findings(name, list);
    sections.push(
      [
        `## ${name}: ${WORKLOADS[name].title}`,
        '',
        renderTable(list),
        '',
        ...(notes.length === 0 ? ['No saturation or failure flagged.'] : notes.map((n) => `- ${n}`)),
      ].join('\n'),
    );
  }
  return { runs, sections, summaries };
}

/**
 * stream: undici client keeping N SSE streams open against the backend and three 1-worker proxies that differ
 * only in the LLM accounting they do (full, scanning without usage injection, none at all via the base-path trick).
 */
async function runStreamWorkload(
  backend: Server,
  args: BenchArgs,
  progress: () => string,
  exitCodes: Record<string, number | null>,
): Promise<{ runs: StreamRunResult[]; section: string; summaries: Record<string, StreamSummary[]> }> {
  const dir = workDir as string;
  // The default (256 upstream connections per worker) would queue streams beyond 256 inside the proxy.
  const upstream = ['--upstream-connections', String(Math.max(256, ...args.streams))];
  const full = await startProxy('stream-proxy-1w', backend.url, 1, join(dir, 'stream-proxy-1w.log'), upstream);
  const noInject = await startProxy('stream-proxy-1w-noinject', backend.url, 1, join(dir, 'stream-proxy-1w-noinject.log'), [
    ...upstream,
    '--inject-usage',
    'off',
  ]);
  // The base-path trick: /chat/completions is not a completion route at the proxy, but reaches /v1/chat/completions.
  const plain = await startProxy('stream-proxy-1w-plain', `${backend.url}/v1`, 1, join(dir, 'stream-proxy-1w-plain.log'), upstream);
  const targets: StreamTarget[] = [
    { name: 'direct', origin: backend.url, path: '/v1/chat/completions', proxy: null },
    { name: 'proxy-1w', origin: full.url, path: '/v1/chat/completions', proxy: full },
    { name: 'proxy-1w-noinject', origin: noInject.url, path: '/v1/chat/completions', proxy: noInject },
    { name: PLAIN_TARGET, origin: plain.url, path: '/chat/completions', proxy: plain },
  ];

  const runs: StreamRunResult[] = [];
  for (const streams of args.streams) {
    for (let rep = 1; rep <= args.reps; rep++) {
      for (const target of targets) {
        const run = await measureStream(target, backend, streams, rep, args);
        runs.push(run);
        console.error(
          `[${progress()}] stream ${streams} ${target.name} rep ${rep}: ${Math.round(run.tokensPerSec)} tok/s, ` +
            `proxy ${run.proxyCpuUsPerToken?.toFixed(1) ?? '-'} µs/tok, backend ${run.backendCpuUsPerToken?.toFixed(1)} µs/tok, ` +
            `gap p50/p99 ${run.gapP50?.toFixed(2)}/${run.gapP99?.toFixed(2)} ms, lost ${run.lostTokens}, failed ${run.failed}, ` +
            `CPU% backend ${run.backendCpuPct?.toFixed(0)} proxy ${run.proxyCpuPct?.toFixed(0) ?? '-'} loadgen ${run.loadgenCpuPct.toFixed(0)}`,
        );
        await sleep(300); // let the closed connections settle
      }
    }
  }
  for (const server of [full, noInject, plain]) exitCodes[server.name] = await server.stop();

  const summaries: Record<string, StreamSummary[]> = {};
  const tables: string[] = [];
  for (const streams of args.streams) {
    const list = STREAM_TARGETS.map((t) =>
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
          `${args.reps} × ${args.duration} s per target, medians; per-token CPU = process-tree CPU over the window ÷ content events the client received in it; ` +
          `"vs plain" compares with the proxy that relays the same bytes without any accounting.`,
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
    `- Each run: the N streams start spread evenly over one stream lifetime (${STREAM_LIFETIME_MS} ms) so they are not in lockstep; ${Math.max(args.warmup, Math.ceil((STREAM_LIFETIME_MS + 1000) / 1000))} s uncounted warm-up; a ${args.duration} s measured window; then no new streams and up to ${((STREAM_LIFETIME_MS + 5000) / 1000).toFixed(1)} s for the open ones to end (the rest would be aborted and counted as failed). Targets alternated (${STREAM_TARGETS.join(', ')}, …).`,
    `- Targets: \`direct\` = the mock backend; \`proxy-1w\` = 1 worker, production config (access log on, usage injection on, SSE scanning); \`proxy-1w-noinject\` = same with \`--inject-usage off\` (scanning only); \`proxy-1w-plain\` = same as proxy-1w but \`--backend-url <backend>/v1\` and requests to \`/chat/completions\`, which the proxy forwards as an ordinary path: no body read, no injection, no scanning (still access log + request metrics). All three with \`${upstream.join(' ')}\` so no stream queues for a backend connection. With injection, the backend adds \`"usage":null\` to every chunk (~13 more bytes/token relayed) and sends one usage chunk that the proxy removes.`,
    '- Columns: tokens = content events (`"content":" tok…`) counted by the client inside the window; tokens lost = Σ over every stream of the run (warm-up and drain included) of 128 − tokens received; TTFT = request start → first content event, for streams started in the window; gap = time between two consecutive content events of a stream as the client reads them (~20 ms means each token is relayed on its own; < 1 ms = it came in the same burst as the previous one, counted in "tokens < 1 ms after previous %"); usage chunks seen = usage-only chunks that reached the client (must be 0 for proxy-1w: the client did not ask); RSS = VmRSS of primary + worker: idle (just before the ramp-up of the run; the proxy has been idle while the other targets ran), window (median of 3 samples at 25/50/75 % of the window), end (end of window, streams still open); RSS per 1k streams = (window − idle) ÷ open streams × 1000: only indicative, the idle RSS still holds the garbage of the previous run of that proxy, so it can come out negative; with two or more stream counts a slope between them is given after the tables.',
  ].join('\n');
  return { runs, section: [intro, ...tables, ...rssSlope(args.streams, summaries)].join('\n\n'), summaries };
}

/**
 * Memory per open stream from two stream counts: the difference of the window RSS medians, so the garbage a
 * process carries regardless of load cancels out (unlike window minus idle, which depends on when V8 last collected).
 */
function rssSlope(streamCounts: readonly number[], summaries: Record<string, StreamSummary[]>): string[] {
  const low = Math.min(...streamCounts);
  const high = Math.max(...streamCounts);
  if (low === high) return [];
  const lines = STREAM_TARGETS.filter((t) => t !== 'direct').map((target) => {
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
      `Window RSS (median of the in-window samples, primary + worker) at ${low} and ${high} open streams, and the slope in MB per 1,000 open streams.`,
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
  const httpRuns = httpNames.length * args.reps * HTTP_TARGETS.length;
  const streamRuns = withStream ? args.streams.length * args.reps * STREAM_TARGETS.length : 0;
  const totalRuns = httpRuns + streamRuns;
  const streamRunS = args.duration + Math.max(args.warmup, (STREAM_LIFETIME_MS + 1000) / 1000) + (STREAM_LIFETIME_MS + 5000) / 1000 + 2;
  const budgetS = Math.ceil(httpRuns * (args.duration + args.warmup + 3) + streamRuns * streamRunS + 120);
  const watchdog = setTimeout(() => {
    console.error(`bench: over its ${budgetS} s time budget, killing everything`);
    killAllNow();
    process.exit(1);
  }, budgetS * 1000);

  workDir = mkdtempSync(join(tmpdir(), 'inference-proxy-bench-'));
  console.error(`bench: ${totalRuns} runs of ${args.duration} s (plus warm-up each); logs in ${workDir}`);
  const backend = await startBackend(join(workDir, 'backend.log'));
  let done = 0;
  const progress = (): string => `${++done}/${totalRuns}`;
  const exitCodes: Record<string, number | null> = {};

  const http = httpNames.length === 0 ? null : await runHttpWorkloads(httpNames, backend, args, progress, exitCodes);
  const stream = withStream ? await runStreamWorkload(backend, args, progress, exitCodes) : null;
  exitCodes[backend.name] = await backend.stop();
  clearTimeout(watchdog);

  const logBytes = (http?.runs ?? []).filter((r) => r.accessLogBytesPerReq !== null).map((r) => r.accessLogBytesPerReq as number);
  const httpHeader =
    http === null
      ? []
      : [
          `- small/chat: ${args.reps} repetitions × ${args.duration} s per target and workload, ${args.connections} connections, targets alternated (direct, proxy-1w, proxy-2w, direct, …); a ${args.warmup} s uncounted warm-up before every measured run. Values are medians over the repetitions.`,
          '- **The load generator (autocannon, in-process in the bench runner: one Node thread), the mock backend (one Node process) and the proxy (primary + workers) all share the same 2 cores, with no pinning.** Absolute numbers are therefore lower bounds and the proxy competes with its own client and backend for CPU.',
          `- Proxy config: production defaults, \`--access-log on --log-level info\`, stdout+stderr appended to a file in ${tmpdir()} (a regular disk filesystem, page cache; ~${logBytes.length === 0 ? '?' : median(logBytes).toFixed(0)} bytes of access log per request), deleted after the run. Metrics are always recorded by the workers (no switch to turn them off); /metrics was not scraped during the runs.`,
          '- Mock backend: `--ttft-ms 0 --token-delay-ms 0`, one process shared by all targets (both proxies stay up, idle, while another target is measured).',
          `- CPU µs/req = Δ(utime+stime) from /proc/<pid>/stat of the process tree (proxy: primary + all workers) ÷ responses completed. "server CPU/req vs direct" = (proxy + backend CPU per request) ÷ backend CPU per request when hit directly. RSS = sum of VmRSS of primary + workers at the end of each run. CPU % is of one core; machine busy % is of all ${cpus().length} cores (/proc/stat); "other" = machine busy minus the three measured parties (other jobs on this shared machine, the idle targets, kernel).`,
        ];
  const streamHeader = withStream
    ? [
        `- stream: the client (undici, in the bench process), the mock backend and the proxies share the same ${cpus().length} cores too; the three stream proxies stay up, idle, while another target is measured (the small/chat proxies are stopped by then). CPU µs/token and "server CPU/token vs direct" as for requests, per content event received; "other" = machine busy minus client, backend and proxy under test, and the part of it that is irq+softirq time from /proc/stat (loopback TCP processing that no process is charged for) is shown in parentheses; the rest of "other" is other jobs on this shared machine and the idle targets.`,
      ]
    : [];
  const header = [
    '# inference-proxy benchmark: proxy vs backend direct',
    '',
    `- Date: ${new Date().toISOString()}`,
    `- Node: ${process.version}, Linux ${release()}`,
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
  writeFileSync(join(RESULTS_DIR, 'latest.md'), markdown);
  const json = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpuModel(),
    cores: cpus().length,
    command,
    args,
    exitCodes,
    summaries: http?.summaries ?? {},
    runs: http?.runs ?? [],
    stream: stream === null ? null : { workload: STREAM, lifetimeMs: STREAM_LIFETIME_MS, summaries: stream.summaries, runs: stream.runs },
  };
  writeFileSync(join(RESULTS_DIR, 'latest.json'), `${JSON.stringify(json, null, 2)}\n`);
  console.error(`bench: wrote ${join(RESULTS_DIR, 'latest.md')} and latest.json`);
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
