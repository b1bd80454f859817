import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchArgs } from '../bench-args.js';
import type { Server } from '../targets/start-child.js';
import { StreamLoad } from '../workloads/stream-client.js';
import { STREAM, STREAM_DRAIN_MS, STREAM_LIFETIME_MS, streamWarmupMs } from '../workloads/workloads.js';
import { type CpuUse, pctOfCore, startCpuWindow, usPer } from './cpu-window.js';
import { rssKbOf, sampleTree } from './proc-cpu.js';
import { median } from './stats.js';
import type { StreamLoadStats } from './stream-load-stats.js';

/** A target of the stream workload: where the client connects and which path it asks for. */
export interface StreamTarget {
  name: string;
  origin: string;
  path: string;
  /** Added to every request's headers (Portkey's provider and custom host). */
  headers: Record<string, string>;
  proxy: Server | null;
}

/** RSS samples taken inside the measured window, at these fractions of it. */
const RSS_SAMPLE_POINTS = [0.25, 0.5, 0.75] as const;

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
  ttftP99: number | null;
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
    headers: { ...STREAM.headers, ...target.headers },
    tokensPerStream: STREAM.tokens,
    concurrency: streams,
    rampMs: STREAM_LIFETIME_MS,
  });
  // Idle baseline: the proxy has had no traffic while the other targets were measured.
  const idleRssKb = target.proxy === null ? null : sampleTree(target.proxy.pid).rssKb;
  load.start();
  await sleep(streamWarmupMs(args.warmup));

  const cpuWindow = startCpuWindow(target.proxy?.pid ?? null, backend.pid);
  const start = performance.now();
  load.beginWindow();
  const rssSamples: number[] = [];
  const openSamples: number[] = [];
  for (const point of RSS_SAMPLE_POINTS) {
    await sleep(start + point * args.duration * 1000 - performance.now());
    openSamples.push(load.inFlight);
    if (cpuWindow.proxyBefore !== null) rssSamples.push(rssKbOf(cpuWindow.proxyBefore.pids));
  }
  await sleep(start + args.duration * 1000 - performance.now());
  load.endWindow();
  const cpu = cpuWindow.end();

  await load.finish(STREAM_DRAIN_MS);
  const memory = { idleRssKb, windowRssKb: rssSamples.length === 0 ? null : median(rssSamples), open: median(openSamples) };
  // In the order of StreamRunResult: the JSON report lists the fields as they always were.
  return {
    target: target.name,
    streams,
    rep,
    ...fromStats(load.stats, cpu),
    ...rssFigures(memory, cpu),
    errorSamples: load.stats.errorSamples,
  };
}

/** What the client counted, and the CPU per token it received inside the window. */
function fromStats(s: StreamLoadStats, cpu: CpuUse): Omit<StreamRunResult, 'target' | 'streams' | 'rep' | 'errorSamples' | RssField> {
  const tokens = s.windowTokens;
  return {
    wall: cpu.wall,
    started: s.started,
    completed: s.completed,
    failed: s.non2xx + s.errors + s.unfinished,
    unfinished: s.unfinished,
    lostTokens: s.lostTokens,
    usageChunks: s.usageChunks,
    windowTokens: tokens,
    tokensPerSec: tokens / cpu.wall,
    batchedPct: tokens === 0 ? null : (s.windowBatchedTokens / tokens) * 100,
    ttftP50: s.ttft.quantile(0.5),
    ttftP99: s.ttft.quantile(0.99),
    gapP50: s.gaps.quantile(0.5),
    gapP99: s.gaps.quantile(0.99),
    proxyCpuUsPerToken: usPer(cpu.proxyCpu, tokens),
    backendCpuUsPerToken: usPer(cpu.backendCpu, tokens),
    proxyCpuPct: pctOfCore(cpu.proxyCpu, cpu.wall),
    backendCpuPct: pctOfCore(cpu.backendCpu, cpu.wall),
    loadgenCpuPct: cpu.loadgenCpuPct,
    machineBusyPct: cpu.machineBusyPct,
    otherCpuPct: cpu.otherCpuPct,
    interruptCpuPct: cpu.interruptCpuPct,
  };
}

type RssField = 'proxyIdleRssMb' | 'proxyWindowRssMb' | 'proxyEndRssMb' | 'openAtRssSamples' | 'proxyRssMbPer1kStreams';

function rssFigures(
  memory: { idleRssKb: number | null; windowRssKb: number | null; open: number },
  cpu: CpuUse,
): Pick<StreamRunResult, RssField> {
  const { idleRssKb, windowRssKb, open } = memory;
  const mb = (kb: number | null): number | null => (kb === null ? null : kb / 1024);
  return {
    proxyIdleRssMb: mb(idleRssKb),
    proxyWindowRssMb: mb(windowRssKb),
    proxyEndRssMb: cpu.proxyAfter === null ? null : cpu.proxyAfter.rssKb / 1024,
    openAtRssSamples: open,
    proxyRssMbPer1kStreams:
      windowRssKb === null || idleRssKb === null || open === 0 ? null : ((windowRssKb - idleRssKb) / 1024 / open) * 1000,
  };
}
