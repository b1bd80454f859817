/**
 * `npm run soak`: does the proxy stay flat (memory, file descriptors, handles) under a long, mixed load
 * with faults? A warm-up, a "before" snapshot, the measured phase, an "after" snapshot, each snapshot after
 * a settle time longer than the proxy's 4 s backend idle timeout. How and why: bench/README.md.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePortRun } from '../support/ports.js';
import { prng } from '../support/prng.js';
import { eventually } from '../support/wait.js';
import { HeapCollector } from './measurement/heap-collector.js';
import { countLogLines } from './measurement/soak-log.js';
import { takeSnapshot } from './measurement/soak-snapshot.js';
import { sampleTimeline } from './measurement/soak-timeline.js';
import { renderSoakReport } from './report/soak-report.js';
import { parseSoakArgs, type SoakArgs } from './soak-args.js';
import { killAllNow, killChildrenAtExit, type Server } from './targets/start-child.js';
import { findLogLine, startBackend, startProxy } from './targets/targets.js';
import { runPhase } from './workloads/soak-load.js';

const WORKERS = 2;
const METRICS_PORT_TIMEOUT_MS = 5_000;
const fmt = (n: number): string => n.toFixed(1);

/** Logs of the backend and the proxy; removed at the end, also on failure. */
let workDir: string | null = null;

/** The proxy as the soak needs it: its metrics port, and inspectors for forced GCs with --gc on. */
async function startSoakProxy(
  args: SoakArgs,
  backendUrl: string,
  dir: string,
): Promise<{ proxy: Server; metricsUrl: string; collector: HeapCollector | null }> {
  // The primary's inspector port, and one per worker after it (node:cluster adds the worker id).
  const inspectBase = args.gc ? await freePortRun(WORKERS + 1) : null;
  const logPath = join(dir, 'proxy.log');
  const proxy = await startProxy({
    name: 'proxy',
    backendUrl,
    workers: WORKERS,
    logPath,
    extraArgs: ['--metrics-port', '0', '--access-log', args.accessLog, '--drain-timeout', '5000'],
    env: inspectBase === null ? {} : { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --inspect-port=127.0.0.1:${inspectBase}`.trim() },
  });
  const metricsPort = await eventually(
    'metrics port in the proxy log',
    () => findLogLine(logPath, (line) => (line.msg === 'metrics port listening' ? (line.port as number) : null)),
    (port) => port !== null,
    { timeoutMs: METRICS_PORT_TIMEOUT_MS },
  );
  const collector = inspectBase === null ? null : new HeapCollector(inspectBase);
  return { proxy, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`, collector };
}

async function main(): Promise<void> {
  const args = parseSoakArgs(process.argv.slice(2));
  const startedAt = new Date();
  const random = prng(args.seed);
  const warmupSeconds = args.seconds * args.warmupFraction;
  const measuredSeconds = args.seconds - warmupSeconds;
  workDir = mkdtempSync(join(tmpdir(), 'inference-proxy-soak-'));
  const backend = await startBackend(join(workDir, 'backend.log'));
  let proxy: Server | null = null;
  try {
    const started = await startSoakProxy(args, backend.url, workDir);
    proxy = started.proxy;
    console.log(
      `proxy ${proxy.url} (primary pid ${proxy.pid}), backend ${backend.url}; ${args.seconds} s at concurrency ${args.concurrency}`,
    );

    console.log(`warm-up: ${fmt(warmupSeconds)} s`);
    const warmup = await runPhase(proxy.url, args.concurrency, warmupSeconds, random);
    await sleep(args.settleSeconds * 1000);
    const before = await takeSnapshot(proxy.pid, started.metricsUrl, started.collector);

    console.log(`measured phase: ${fmt(measuredSeconds)} s`);
    const timeline = sampleTimeline(proxy.pid, measuredSeconds);
    const measured = await runPhase(proxy.url, args.concurrency, measuredSeconds, random);
    const underLoad = await timeline;
    await sleep(args.settleSeconds * 1000);
    const after = await takeSnapshot(proxy.pid, started.metricsUrl, started.collector);

    const logged = await countLogLines(proxy.logPath);
    const report = renderSoakReport({ args, workers: WORKERS, startedAt, warmup, measured, before, after, logged, underLoad });
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

killChildrenAtExit('soak', () => workDir);

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  killAllNow();
  process.exit(1);
});
