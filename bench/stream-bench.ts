import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { BenchArgs } from './args.js';
import { cpuSecondsBetween, rssKbOf, sampleSystem, sampleTree } from './proc-cpu.js';
import { StreamLoad } from './stream-client.js';
import { type Server, sleep } from './targets.js';
import { STREAM, STREAM_LIFETIME_MS } from './workloads.js';

/** A target of the stream workload: where the client connects and which path it asks for. */
export interface StreamTarget {
  name: string;
  origin: string;
  path: string;
  proxy: Server | null;
}

/** RSS samples taken inside the measured window, at these fractions of it. */
const RSS_SAMPLE_POINTS = [0.25, 0.5, 0.75] as const;
/** After the window, open streams get their remaining lifetime plus this to end on their own. */
const DRAIN_GRACE_MS = 5_000;

export interface StreamRunResult {
  target: string;
  streams: number;
  rep: number;
  /** Wall seconds between the CPU samples, i.e. of the measured window. */
  wall: number;
  started: number;
  completed: number;
  failed: number;
  unfinished: number;
  lostTokens: number;
  usageChunks: number;
  windowTokens: number;
  tokensPerSec: number;
  batchedPct: number | null;
  ttftP50: number | null;
  gapP50: number | null;
  gapP99: number | null;
  proxyCpuUsPerToken: number | null;
  backendCpuUsPerToken: number | null;
  proxyCpuPct: number | null;
  backendCpuPct: number | null;
  loadgenCpuPct: number;
  machineBusyPct: number;
  otherCpuPct: number;
  /** Part of "other": irq + softirq time (loopback networking), percent of one core. */
  interruptCpuPct: number;
  proxyIdleRssMb: number | null;
  /** Median of the samples inside the window, with about `streams` streams open. */
  proxyWindowRssMb: number | null;
  /** At the end of the window, streams still open. */
  proxyEndRssMb: number | null;
  /** Median number of open streams at the RSS samples. */
  openAtRssSamples: number;
  proxyRssMbPer1kStreams: number | null;
  errorSamples: string[];
}

/**
 * One run: ramp up `streams` concurrent streams (staggered over one stream lifetime, uncounted warm-up),
 * measure for args.duration seconds while replacing every stream that ends, then let the open ones end.
 */
export async function measureStream(
  target: StreamTarget,
  backend: Server,
  streams: number,
  rep: number,
  args: BenchArgs,
): Promise<StreamRunResult> {
  const load = new StreamLoad({
    origin: target.origin,
    path: target.path,
    body: STREAM.body,
    headers: STREAM.headers,
    tokensPerStream: STREAM.tokens,
    concurrency: streams,
    rampMs: STREAM_LIFETIME_MS,
  });
  // Idle baseline: the proxy has had no traffic while the other targets were measured.
  const idleRssKb = target.proxy === null ? null : sampleTree(target.proxy.pid).rssKb;
  load.start();
  await sleep(Math.max(args.warmup * 1000, STREAM_LIFETIME_MS + 1000));

  const proxyBefore = target.proxy === null ? null : sampleTree(target.proxy.pid);
  const backendBefore = sampleTree(backend.pid);
  const systemBefore = sampleSystem();
  const loadgenBefore = process.cpuUsage();
  const start = performance.now();
  load.beginWindow();

  const rssSamples: number[] = [];
  const openSamples: number[] = [];
  for (const point of RSS_SAMPLE_POINTS) {
    await sleep(start + point * args.duration * 1000 - performance.now());
    openSamples.push(load.inFlight);
    if (proxyBefore !== null) rssSamples.push(rssKbOf(proxyBefore.pids));
  }
  await sleep(start + args.duration * 1000 - performance.now());

  load.endWindow();
  const wall = (performance.now() - start) / 1000;
  const loadgen = process.cpuUsage(loadgenBefore);
  const systemAfter = sampleSystem();
  const backendAfter = sampleTree(backend.pid);
  const proxyAfter = target.proxy === null ? null : sampleTree(target.proxy.pid);

  await load.finish(STREAM_LIFETIME_MS + DRAIN_GRACE_MS);
  const s = load.stats;

  const tokens = s.windowTokens;
  const perTokenUs = (cpuSeconds: number | null): number | null =>
    cpuSeconds === null || tokens === 0 ? null : (cpuSeconds * 1e6) / tokens;
  const pctOfCore = (cpuSeconds: number | null): number | null => (cpuSeconds === null ? null : (cpuSeconds / wall) * 100);
  const proxyCpu = proxyBefore === null || proxyAfter === null ? null : cpuSecondsBetween(proxyBefore, proxyAfter);
  const backendCpu = cpuSecondsBetween(backendBefore, backendAfter);
  const loadgenCpuPct = ((loadgen.user + loadgen.system) / 1e6 / wall) * 100;
  const machineBusyPct = ((systemAfter.busy - systemBefore.busy) / Math.max(1, systemAfter.total - systemBefore.total)) * 100;
  const systemTicks = Math.max(1, systemAfter.total - systemBefore.total);
  const interruptCpuPct = ((systemAfter.interrupts - systemBefore.interrupts) / systemTicks) * 100 * cpus().length;
  const ownCpuPct = loadgenCpuPct + (pctOfCore(backendCpu) ?? 0) + (pctOfCore(proxyCpu) ?? 0);
  const windowRssKb = rssSamples.length === 0 ? null : middle(rssSamples);
  const open = middle(openSamples);
  const mb = (kb: number | null): number | null => (kb === null ? null : kb / 1024);
  return {
    target: target.name,
    streams,
    rep,
    wall,
    started: s.started,
    completed: s.completed,
    failed: s.non2xx + s.errors + s.unfinished,
    unfinished: s.unfinished,
    lostTokens: s.lostTokens,
    usageChunks: s.usageChunks,
    windowTokens: tokens,
    tokensPerSec: tokens / wall,
    batchedPct: tokens === 0 ? null : (s.windowBatchedTokens / tokens) * 100,
    ttftP50: s.ttft.quantile(0.5),
    gapP50: s.gaps.quantile(0.5),
    gapP99: s.gaps.quantile(0.99),
    proxyCpuUsPerToken: perTokenUs(proxyCpu),
    backendCpuUsPerToken: perTokenUs(backendCpu),
    proxyCpuPct: pctOfCore(proxyCpu),
    backendCpuPct: pctOfCore(backendCpu),
    loadgenCpuPct,
    machineBusyPct,
    otherCpuPct: Math.max(0, machineBusyPct * cpus().length - ownCpuPct),
    interruptCpuPct,
    proxyIdleRssMb: mb(idleRssKb),
    proxyWindowRssMb: mb(windowRssKb),
    proxyEndRssMb: proxyAfter === null ? null : proxyAfter.rssKb / 1024,
    openAtRssSamples: open,
    proxyRssMbPer1kStreams:
      windowRssKb === null || idleRssKb === null || open === 0 ? null : ((windowRssKb - idleRssKb) / 1024 / open) * 1000,
    errorSamples: s.errorSamples,
  };
}

function middle(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1] ?? 0;
}
