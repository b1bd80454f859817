import type { BenchArgs } from './bench-args.js';
import type { Nginx } from './nginx.js';
import { ROUTING_MIXES, routingVariants } from './run-routing-all.js';
import { streamUpstreamConnections } from './run-stream.js';
import { checkTargetNames, httpTargetDefs, selectTargets, streamTargetDefs, takesPart } from './target-defs.js';
import { type HttpWorkloadName, isHttpWorkload, STREAM_DRAIN_MS, streamWarmupMs } from './workloads.js';

/** Seconds for starting and stopping every process, on top of the runs. */
const FIXED_BUDGET_S = 180;
/** Seconds per small/chat run on top of warm-up and window (settling, sampling). */
const HTTP_RUN_SLACK_S = 3;
const STREAM_RUN_SLACK_S = 2;
/** A routing run: starting 4 backends and a proxy, the 5 s warm-up, stopping them. */
const ROUTING_RUN_SLACK_S = 20;
/** The scrape timing: its chat load, ten scrapes idle, starting curl. */
const SCRAPE_SLACK_S = 20;

export interface RunPlan {
  httpNames: HttpWorkloadName[];
  withStream: boolean;
  withRouting: boolean;
  totalRuns: number;
  /** The watchdog kills everything after this: a hung target must not hold the shared machine. */
  budgetS: number;
}

/** What the arguments ask for: checks the target names, counts the runs and bounds the time they may take. */
export function planRuns(args: BenchArgs, nginx: Nginx | null): RunPlan {
  const httpNames = args.workloads.filter(isHttpWorkload);
  const withStream = args.workloads.includes('stream');
  const httpDefs = httpNames.length > 0 ? httpTargetDefs('', nginx) : [];
  const streamDefs = withStream ? streamTargetDefs('', streamUpstreamConnections(args.streams), nginx) : [];
  checkTargetNames(
    args,
    [...httpDefs, ...streamDefs].map((d) => d.name),
  );
  const selectedHttp = selectTargets(httpDefs, args);
  const httpRuns = httpNames.reduce((sum, name) => sum + selectedHttp.filter((d) => takesPart(d, name)).length, 0) * args.reps;
  const streamRuns = withStream ? args.streams.length * args.reps * selectTargets(streamDefs, args).length : 0;
  const streamRunS = args.duration + streamWarmupMs(args.warmup) / 1000 + STREAM_DRAIN_MS / 1000 + STREAM_RUN_SLACK_S;
  const scrapeS = httpNames.includes('chat') ? args.duration + SCRAPE_SLACK_S : 0;
  const withRouting = args.workloads.includes('routing');
  const routingRuns = withRouting ? routingVariants(args).length * ROUTING_MIXES.length * args.reps : 0;
  const budgetS = Math.ceil(
    httpRuns * (args.duration + args.warmup + HTTP_RUN_SLACK_S) +
      streamRuns * streamRunS +
      scrapeS +
      routingRuns * (args.duration + ROUTING_RUN_SLACK_S) +
      FIXED_BUDGET_S,
  );
  return { httpNames, withStream, withRouting, totalRuns: httpRuns + streamRuns + routingRuns, budgetS };
}
