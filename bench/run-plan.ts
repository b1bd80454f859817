import type { BenchArgs } from './bench-args.js';
import type { Nginx } from './targets/nginx.js';
import type { AltNode } from './targets/node-binary.js';
import { overheadTargetDefs, selectOverheadTargets } from './targets/overhead-targets.js';
import { checkTargetNames, httpTargetDefs, selectTargets, streamTargetDefs, takesPart } from './targets/target-defs.js';
import { IDLE_S, SCRAPE_MAX_S, SCRAPES, SMALL_SIZES } from './workloads/fleet-workload.js';
import { OPEN_LOOP_DRAIN_MS, SEARCH_PROBE_S, SEARCH_WARMUP_MS, SEQUENTIAL_MAX_S } from './workloads/overhead-workload.js';
import { ROUTING_MIXES, routingVariants } from './workloads/run-routing-all.js';
import { saturationVariants } from './workloads/run-saturation.js';
import { streamUpstreamConnections } from './workloads/run-stream.js';
import { type HttpWorkloadName, isHttpWorkload, STREAM_DRAIN_MS, streamWarmupMs } from './workloads/workloads.js';

/** Seconds for starting and stopping every process, on top of the runs. */
const FIXED_BUDGET_S = 180;
/** Seconds per small/chat run on top of warm-up and window (settling, sampling). */
const HTTP_RUN_SLACK_S = 3;
const STREAM_RUN_SLACK_S = 2;
/** A routing run: starting 4 backends and a proxy, the 5 s warm-up, stopping them. */
const ROUTING_RUN_SLACK_S = 20;
/** A saturation run: its 10 s warm-up, the drain (up to 2 minutes with the queue off), starting 4 engines and a proxy or two. */
const SATURATION_RUN_SLACK_S = 150;
/** The scrape timing: its chat load, ten scrapes idle, starting curl. */
const SCRAPE_SLACK_S = 20;
/** A fleet size besides its idle window and scrapes: starting the proxy, its chats, the series read, stopping it. */
const FLEET_SIZE_SLACK_S = 90;

export interface RunPlan {
  httpNames: HttpWorkloadName[];
  withStream: boolean;
  withOverhead: boolean;
  withRouting: boolean;
  withFleet: boolean;
  withSaturation: boolean;
  totalRuns: number;
  /** The watchdog kills everything after this: a hung target must not hold the shared machine. */
  budgetS: number;
}

/** What the arguments ask for: checks the target names, counts the runs and bounds the time they may take. */
export function planRuns(args: BenchArgs, nginx: Nginx | null, node: AltNode | null = null): RunPlan {
  const httpNames = args.workloads.filter(isHttpWorkload);
  const withStream = args.workloads.includes('stream');
  const withOverhead = args.workloads.includes('overhead');
  const httpDefs = httpNames.length > 0 ? httpTargetDefs('', nginx, node) : [];
  const streamDefs = withStream ? streamTargetDefs('', streamUpstreamConnections(args.streams), nginx, node) : [];
  const overheadDefs = withOverhead ? overheadTargetDefs('', nginx, node) : [];
  checkTargetNames(
    args,
    [...httpDefs, ...streamDefs, ...overheadDefs].map((d) => d.name),
  );
  const overhead = withOverhead ? overheadBudget(args, selectOverheadTargets(overheadDefs, args).length) : { runs: 0, seconds: 0 };
  const selectedHttp = selectTargets(httpDefs, args);
  const httpRuns = httpNames.reduce((sum, name) => sum + selectedHttp.filter((d) => takesPart(d, name)).length, 0) * args.reps;
  const streamRuns = withStream ? args.streams.length * args.reps * selectTargets(streamDefs, args).length : 0;
  const streamRunS = args.duration + streamWarmupMs(args.warmup) / 1000 + STREAM_DRAIN_MS / 1000 + STREAM_RUN_SLACK_S;
  const scrapeS = httpNames.includes('chat') ? args.duration + SCRAPE_SLACK_S : 0;
  const withRouting = args.workloads.includes('routing');
  const routingRuns = withRouting ? routingVariants(args).length * ROUTING_MIXES.length * args.reps : 0;
  const fleet = args.workloads.includes('fleet') ? fleetBudget(args) : { runs: 0, seconds: 0 };
  const saturationRuns = args.workloads.includes('saturation')
    ? saturationVariants(args.saturationSweep, args.saturationOnly).reduce((sum, variant) => sum + variant.loads.length, 0) * args.reps
    : 0;
  const budgetS = Math.ceil(
    httpRuns * (args.duration + args.warmup + HTTP_RUN_SLACK_S) +
      streamRuns * streamRunS +
      scrapeS +
      routingRuns * (args.duration + ROUTING_RUN_SLACK_S) +
      overhead.seconds +
      fleet.seconds +
      saturationRuns * (Math.max(args.duration, 20) + SATURATION_RUN_SLACK_S) +
      FIXED_BUDGET_S,
  );
  const totalRuns = httpRuns + streamRuns + overhead.runs + routingRuns + fleet.runs + saturationRuns;
  return {
    httpNames,
    withStream,
    withOverhead,
    withRouting,
    withFleet: fleet.runs > 0,
    withSaturation: saturationRuns > 0,
    totalRuns,
    budgetS,
  };
}

/** One run per fleet size and one per small-request window; a scrape may take up to curl's bound. */
function fleetBudget(args: BenchArgs): { runs: number; seconds: number } {
  const smallRuns = SMALL_SIZES.filter((size) => args.backends.includes(size)).length * args.reps;
  const sizeS = IDLE_S + SCRAPES * SCRAPE_MAX_S + FLEET_SIZE_SLACK_S;
  const smallS = args.warmup + args.duration + HTTP_RUN_SLACK_S;
  return { runs: args.backends.length + smallRuns, seconds: args.backends.length * sizeS + smallRuns * smallS };
}

/** Counted runs (sequential and fixed rates; the search's probes are not counted) and the seconds all may take. */
function overheadBudget(args: BenchArgs, targets: number): { runs: number; seconds: number } {
  const sequentialRuns = targets * args.reps;
  const fixedRuns = targets * args.reps * args.rates.length;
  const openLoopS = args.warmup + args.duration + OPEN_LOOP_DRAIN_MS / 1000 + HTTP_RUN_SLACK_S;
  const probeS = SEARCH_WARMUP_MS / 1000 + Math.min(args.duration, SEARCH_PROBE_S) + OPEN_LOOP_DRAIN_MS / 1000 + HTTP_RUN_SLACK_S;
  // Every proxy's probes, each a run of its reference and one of its own.
  const searchS = (targets - 1) * args.searchProbes * 2 * probeS;
  return { runs: sequentialRuns + fixedRuns, seconds: sequentialRuns * SEQUENTIAL_MAX_S + fixedRuns * openLoopS + searchS };
}
