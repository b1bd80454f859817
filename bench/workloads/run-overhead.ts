import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CpuUse, type CpuWindow, pctOfCore, startCpuWindow, usPer } from '../measurement/cpu-window.js';
import { type Bracket, nextProbeRate, type Probe } from '../measurement/overhead-stats.js';
import { cpuSecondsBetween, sampleTree, type TreeSample } from '../measurement/proc-cpu.js';
import { inRotation } from '../measurement/stats.js';
import {
  bracketFrom,
  lostOf,
  type OpenLoopCpu,
  type OpenLoopRun,
  probeHeld,
  type RateSummary,
  type SequentialRun,
  type SequentialSummary,
  summarizeRate,
  summarizeSequential,
} from '../report/overhead-report.js';
import { renderOverheadSection } from '../report/overhead-section.js';
import { type OverheadTargetDef, overheadTargetDefs, selectOverheadTargets } from '../targets/overhead-targets.js';
import type { Server } from '../targets/start-child.js';
import { type DescribedTarget, describeTargets, startTargets, stopTargets } from '../targets/target-defs.js';
import { type OverheadClient, startOverheadClient } from './overhead-driver.js';
import type { OpenLoopJob, OpenLoopOutcome, RequestSpec, SequentialOutcome } from './overhead-messages.js';
import {
  ADDED_P99_LIMIT_MS,
  OPEN_LOOP_CONNECTIONS,
  OPEN_LOOP_DRAIN_MS,
  OPEN_LOOP_MAX_BACKLOG_S,
  OPEN_LOOP_MAX_CONNECTIONS,
  SEARCH_MAX_RATE,
  SEARCH_MIN_RATE,
  SEARCH_PRECISION,
  SEARCH_PROBE_S,
  SEARCH_WARMUP_MS,
  SEQUENTIAL_MAX_S,
  sequentialWarmupRounds,
} from './overhead-workload.js';
import type { RunContext } from './run-context.js';

/** Closed connections of the previous run are gone after this. */
const SETTLE_MS = 300;

/** A target as started: what the client asks it, and what it asks the backend straight for comparison. */
interface Target {
  def: OverheadTargetDef;
  proxy: Server | null;
  request: RequestSpec;
  direct: RequestSpec;
}

/** A probe of the search, with the p99s it was judged on, ms. */
interface ProbeResult extends Probe {
  p99: number | null;
  referenceP99: number | null;
  /** The reference itself lost requests or had a p99 over the limit, twice: the verdict is weak. */
  referenceNoisy: boolean;
}

/** The highest rate a target held: the search's result. */
export interface RateHeld {
  target: string;
  bracket: Bracket;
  probes: ProbeResult[];
}

export interface OverheadResults {
  targets: DescribedTarget[];
  sequentialRuns: SequentialRun[];
  openLoopRuns: OpenLoopRun[];
  sequential: SequentialSummary[];
  rates: RateSummary[];
  held: RateHeld[];
  section: string;
}

/** overhead: sequential rounds, then the open loop at each rate, then the search for the highest rate held. */
export async function runOverheadWorkload(context: RunContext): Promise<OverheadResults> {
  const dir = join(context.workDir, 'overhead');
  mkdirSync(dir, { recursive: true });
  const defs = selectOverheadTargets(overheadTargetDefs(dir, context.nginx, context.altNode), context.args);
  const started = await startTargets(defs, context.backend);
  const targets: Target[] = started.map(({ def, proxy }) => targetOf(def as OverheadTargetDef, proxy, context.backend.url));
  const client = startOverheadClient();
  const sequentialRuns: SequentialRun[] = [];
  const openLoopRuns: OpenLoopRun[] = [];
  const held: RateHeld[] = [];
  try {
    for (let rep = 1; rep <= context.args.reps; rep++) {
      for (const target of inRotation(targets, rep)) sequentialRuns.push(await sequential(client, target, rep, context));
    }
    for (let rep = 1; rep <= context.args.reps; rep++) {
      for (const rate of context.args.rates) {
        for (const target of inRotation(targets, rep)) openLoopRuns.push(await openLoop(client, target, rate, rep, context));
      }
    }
    const rates = summarizeRates(targets, context.args.rates, openLoopRuns);
    for (const target of targets.filter((t) => t.proxy !== null)) {
      held.push(await searchRate(client, target, targets, rates, openLoopRuns, context));
    }
  } finally {
    await client.close();
    await stopTargets(started, context.exitCodes);
  }
  const sequentialSummaries = targets.map((t) => summarizeSequential(t.def.name, sequentialRuns));
  const rates = summarizeRates(targets, context.args.rates, openLoopRuns);
  const described = describeTargets(started);
  const section = renderOverheadSection({ args: context.args, targets: described, sequential: sequentialSummaries, rates, held });
  return { targets: described, sequentialRuns, openLoopRuns, sequential: sequentialSummaries, rates, held, section };
}

function targetOf(def: OverheadTargetDef, proxy: Server | null, backendUrl: string): Target {
  const direct = { origin: backendUrl, path: def.path, headers: {} };
  if (proxy === null) return { def, proxy, request: direct, direct };
  return { def, proxy, request: { origin: proxy.url, path: def.path, headers: def.headers?.(backendUrl) ?? {} }, direct };
}

function summarizeRates(targets: readonly Target[], rates: readonly number[], runs: readonly OpenLoopRun[]): RateSummary[] {
  return rates.flatMap((rate) => targets.map((t) => summarizeRate(t.def.name, rate, runs)));
}

async function sequential(client: OverheadClient, target: Target, rep: number, context: RunContext): Promise<SequentialRun> {
  const { rounds } = context.args;
  const job = {
    kind: 'sequential' as const,
    direct: target.direct,
    proxied: target.request,
    warmupRounds: sequentialWarmupRounds(rounds),
    rounds,
    maxMs: SEQUENTIAL_MAX_S * 1000,
  };
  const outcome = (await client.run(job, { start: () => undefined, end: () => undefined })) as SequentialOutcome;
  const { kind: _, ...figures } = outcome;
  const run: SequentialRun = { target: target.def.name, reference: target.def.reference, rep, ...figures };
  console.error(
    `[${context.progress()}] overhead sequential ${target.def.name} rep ${rep}: added p50 ${ms(run.deltaP50)} (IQR ${ms(run.deltaP25)}–${ms(run.deltaP75)}), p99 ${ms(run.deltaP99)} ms over ${run.rounds} rounds` +
      (run.failed > 0 ? `, FAILED ${run.failed}: ${run.errorSamples.join('; ')}` : '') +
      (run.cut ? ', cut at the time bound' : ''),
  );
  await sleep(SETTLE_MS);
  return run;
}

function openLoopJob(request: RequestSpec, rate: number, warmupMs: number, durationMs: number): OpenLoopJob {
  return {
    kind: 'open-loop',
    request,
    rate,
    warmupMs,
    durationMs,
    connections: OPEN_LOOP_CONNECTIONS,
    maxConnections: OPEN_LOOP_MAX_CONNECTIONS,
    maxBacklog: Math.ceil(rate * OPEN_LOOP_MAX_BACKLOG_S),
    drainMs: OPEN_LOOP_DRAIN_MS,
  };
}

/** One open-loop run (rep 0: a probe of the search), with the CPU of every party over its window. */
async function openLoop(
  client: OverheadClient,
  target: Target,
  rate: number,
  rep: number,
  context: RunContext,
  window = { warmupMs: context.args.warmup * 1000, durationMs: context.args.duration * 1000 },
): Promise<OpenLoopRun> {
  let cpuWindow: CpuWindow | null = null;
  let clientBefore: TreeSample | null = null;
  let cpu: CpuUse | null = null;
  let clientCpu: number | null = null;
  const hooks = {
    start: () => {
      cpuWindow = startCpuWindow(target.proxy?.pid ?? null, context.backend.pid);
      clientBefore = sampleTree(client.pid);
    },
    end: () => {
      cpu = cpuWindow?.end() ?? null;
      clientCpu = clientBefore === null ? null : cpuSecondsBetween(clientBefore, sampleTree(client.pid));
    },
  };
  const outcome = (await client.run(openLoopJob(target.request, rate, window.warmupMs, window.durationMs), hooks)) as OpenLoopOutcome;
  const { kind: _, ...figures } = outcome;
  const run: OpenLoopRun = {
    target: target.def.name,
    reference: target.def.reference,
    rep,
    ...figures,
    ...cpuOf(cpu, clientCpu, outcome.achievedRate * (window.durationMs / 1000)),
  };
  const lost = run.failed + run.unfinished + run.skipped;
  console.error(
    `[${rep === 0 ? 'search' : context.progress()}] overhead open loop ${rate}/s ${target.def.name}${rep === 0 ? '' : ` rep ${rep}`}: p50 ${ms(run.latency.p50)} p99 ${ms(run.latency.p99)} ms, achieved ${Math.round(run.achievedRate)}/s, client late p99 ${ms(run.lateness.p99)} ms, proxy ${run.proxyCpuUsPerReq?.toFixed(0) ?? '-'} µs/req` +
      (lost > 0 ? `, LOST ${run.failed} failed ${run.unfinished} unfinished ${run.skipped} skipped ${run.errorSamples.join('; ')}` : ''),
  );
  await sleep(SETTLE_MS);
  return run;
}

function cpuOf(cpu: CpuUse | null, clientCpu: number | null, responses: number): OpenLoopCpu {
  if (cpu === null) return { proxyCpuUsPerReq: null, proxyCpuPct: null, backendCpuPct: null, clientCpuPct: null, machineBusyPct: 0 };
  return {
    proxyCpuUsPerReq: usPer(cpu.proxyCpu, Math.round(responses)),
    proxyCpuPct: pctOfCore(cpu.proxyCpu, cpu.wall),
    backendCpuPct: pctOfCore(cpu.backendCpu, cpu.wall),
    clientCpuPct: pctOfCore(clientCpu, cpu.wall),
    machineBusyPct: cpu.machineBusyPct,
  };
}

/**
 * Bisects (log scale) between the fixed rates' verdicts for the highest rate the target holds, each probe a
 * short run of its reference then of the target at that rate (the reference's p99 is not assumed from another rate).
 */
async function searchRate(
  client: OverheadClient,
  target: Target,
  all: readonly Target[],
  rates: readonly RateSummary[],
  runs: OpenLoopRun[],
  context: RunContext,
): Promise<RateHeld> {
  const fixed = rates.filter((r) => r.target === target.def.name);
  const reference = all.find((t) => t.def.name === target.def.reference);
  const probes: ProbeResult[] = [];
  const window = { warmupMs: SEARCH_WARMUP_MS, durationMs: Math.min(context.args.duration, SEARCH_PROBE_S) * 1000 };
  for (let i = 0; i < context.args.searchProbes && reference !== undefined; i++) {
    const rate = nextProbeRate(bracketFrom(fixed, probes), SEARCH_MIN_RATE, SEARCH_MAX_RATE, SEARCH_PRECISION);
    if (rate === null) break;
    let referenceRun = await openLoop(client, reference, rate, 0, context, window);
    let run = await openLoop(client, target, rate, 0, context, window);
    runs.push(referenceRun, run);
    // A reference that did not hold its own rate says the machine was busy, not the target slow: once more.
    if (isNoisy(referenceRun)) {
      referenceRun = await openLoop(client, reference, rate, 0, context, window);
      run = await openLoop(client, target, rate, 0, context, window);
      runs.push(referenceRun, run);
    }
    const judged = { p99: run.latency.p99, referenceP99: referenceRun.latency.p99, referenceNoisy: isNoisy(referenceRun) };
    probes.push({ rate, held: probeHeld(run, referenceRun), ...judged });
  }
  const bracket = bracketFrom(fixed, probes);
  console.error(`[search] overhead ${target.def.name}: holds ${bracket.held ?? 'none'} req/s, not ${bracket.failed ?? 'reached'}`);
  return { target: target.def.name, bracket, probes };
}

function isNoisy(reference: OpenLoopRun): boolean {
  return lostOf(reference) > 0 || reference.latency.p99 === null || reference.latency.p99 >= ADDED_P99_LIMIT_MS;
}

function ms(v: number | null): string {
  return v === null ? '-' : v.toFixed(3);
}
