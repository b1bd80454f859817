import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { type BenchArgs, parseArgs } from './args.js';
import { CLK_TCK, cpuSecondsBetween, sampleSystem, sampleTree } from './proc-cpu.js';
import { findings, median, type RunResult, renderTable, type Summary, summarize } from './report.js';
import { fileSize, killAllNow, type Server, sleep, startBackend, startProxy } from './targets.js';
import { WORKLOADS, type Workload } from './workloads.js';

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

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const startLoad = loadavg();
  const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim();
  const targetNames = ['direct', 'proxy-1w', 'proxy-2w'];
  const totalRuns = args.workloads.length * args.reps * targetNames.length;
  const budgetS = totalRuns * (args.duration + args.warmup + 3) + 120;
  const watchdog = setTimeout(() => {
    console.error(`bench: over its ${budgetS} s time budget, killing everything`);
    killAllNow();
    process.exit(1);
  }, budgetS * 1000);

  workDir = mkdtempSync(join(tmpdir(), 'inference-proxy-bench-'));
  console.error(`bench: ${totalRuns} runs of ${args.duration} s (+${args.warmup} s warm-up each); logs in ${workDir}`);
  const backend = await startBackend(join(workDir, 'backend.log'));
  const proxy1 = await startProxy('proxy-1w', backend.url, 1, join(workDir, 'proxy-1w.log'));
  const proxy2 = await startProxy('proxy-2w', backend.url, 2, join(workDir, 'proxy-2w.log'));
  const targets: Target[] = [
    { name: 'direct', url: backend.url, proxy: null },
    { name: 'proxy-1w', url: proxy1.url, proxy: proxy1 },
    { name: 'proxy-2w', url: proxy2.url, proxy: proxy2 },
  ];

  const runs: RunResult[] = [];
  let done = 0;
  for (const name of args.workloads) {
    const workload = WORKLOADS[name];
    for (let rep = 1; rep <= args.reps; rep++) {
      for (const target of targets) {
        const run = await measure(target, backend, workload, rep, args);
        runs.push(run);
        done++;
        console.error(
          `[${done}/${totalRuns}] ${name} ${target.name} rep ${rep}: ${Math.round(run.reqPerSec)} req/s, p99 ${run.latencyP99} ms, ` +
            `backend ${run.backendCpuPct?.toFixed(0)}%, proxy ${run.proxyCpuPct?.toFixed(0) ?? '-'}%, loadgen ${run.loadgenCpuPct.toFixed(0)}%`,
        );
      }
    }
  }

  const exitCodes: Record<string, number | null> = {};
  for (const server of [proxy1, proxy2, backend]) exitCodes[server.name] = await server.stop();
  clearTimeout(watchdog);

  const sections: string[] = [];
  const summaries: Record<string, Summary[]> = {};
  for (const name of args.workloads) {
    const list = targetNames.map((t) =>
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

  const logBytes = runs.filter((r) => r.accessLogBytesPerReq !== null).map((r) => r.accessLogBytesPerReq as number);
  const header = [
    '# inference-proxy benchmark: proxy vs backend direct',
    '',
    `- Date: ${new Date().toISOString()}`,
    `- Node: ${process.version}, Linux ${release()}`,
    `- CPU: ${cpuModel()}, ${cpus().length} cores (availableParallelism ${availableParallelism()}), CLK_TCK ${CLK_TCK}`,
    `- Command: \`${command}\``,
    `- Load average when the bench started (1/5/15 min): ${startLoad.map((l) => l.toFixed(2)).join(' / ')}`,
    `- ${args.reps} repetitions × ${args.duration} s per target and workload, ${args.connections} connections, targets alternated (direct, proxy-1w, proxy-2w, direct, …); a ${args.warmup} s uncounted warm-up before every measured run. Values are medians over the repetitions.`,
    '- **The load generator (autocannon, in-process in the bench runner: one Node thread), the mock backend (one Node process) and the proxy (primary + workers) all share the same 2 cores, with no pinning.** Absolute numbers are therefore lower bounds and the proxy competes with its own client and backend for CPU.',
    `- Proxy config: production defaults, \`--access-log on --log-level info\`, stdout+stderr appended to a file in ${tmpdir()} (a regular disk filesystem, page cache; ~${logBytes.length === 0 ? '?' : median(logBytes).toFixed(0)} bytes of access log per request), deleted after the run. Metrics are always recorded by the workers (no switch to turn them off); /metrics was not scraped during the runs.`,
    '- Mock backend: `--ttft-ms 0 --token-delay-ms 0`, one process shared by all targets (both proxies stay up, idle, while another target is measured).',
    `- CPU µs/req = Δ(utime+stime) from /proc/<pid>/stat of the process tree (proxy: primary + all workers) ÷ responses completed. "server CPU/req vs direct" = (proxy + backend CPU per request) ÷ backend CPU per request when hit directly. RSS = sum of VmRSS of primary + workers at the end of each run. CPU % is of one core; machine busy % is of all ${cpus().length} cores (/proc/stat); "other" = machine busy minus the three measured parties (other jobs on this shared machine, the idle targets, kernel).`,
    `- Proxy exit codes on SIGTERM: ${Object.entries(exitCodes)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
  ].join('\n');

  const markdown = `${header}\n\n${sections.join('\n\n')}\n`;
  console.log(markdown);
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, 'latest.md'), markdown);
  writeFileSync(
    join(RESULTS_DIR, 'latest.json'),
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cpu: cpuModel(), cores: cpus().length, command, args, exitCodes, summaries, runs }, null, 2)}\n`,
  );
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
