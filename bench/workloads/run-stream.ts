import { setTimeout as sleep } from 'node:timers/promises';
import { measureStream, type StreamRunResult, type StreamTarget } from '../measurement/measure-stream.js';
import { inRotation } from '../measurement/stats.js';
import type { StreamSummary } from '../report/stream-report.js';
import { renderStreamSection } from '../report/stream-section.js';
import {
  type DescribedTarget,
  describeTargets,
  selectTargets,
  startTargets,
  stopTargets,
  streamTargetDefs,
} from '../targets/target-defs.js';
import type { RunContext } from './run-context.js';

/** Closed connections of the previous run are gone after this. */
const SETTLE_MS = 300;
/** Our default backend connections per worker; more streams than this would queue inside the proxy. */
const MIN_UPSTREAM_CONNECTIONS = 256;

export interface StreamResults {
  runs: StreamRunResult[];
  section: string;
  summaries: Record<string, StreamSummary[]>;
  targets: DescribedTarget[];
}

/** The backend connections every proxy gets, so that no stream waits for one. */
export function streamUpstreamConnections(streams: readonly number[]): number {
  return Math.max(MIN_UPSTREAM_CONNECTIONS, ...streams);
}

/** stream: undici client keeping N SSE streams open against every target in turn. */
export async function runStreamWorkload(context: RunContext): Promise<StreamResults> {
  const { args, backend } = context;
  const upstreamConnections = streamUpstreamConnections(args.streams);
  const defs = selectTargets(streamTargetDefs(context.workDir, upstreamConnections, context.nginx, context.altNode), args);
  const started = await startTargets(defs, backend);
  const targets: StreamTarget[] = started.map(({ def, proxy }) => ({
    name: def.name,
    origin: proxy?.url ?? backend.url,
    path: def.path ?? '/v1/chat/completions',
    headers: def.headers?.(backend.url) ?? {},
    proxy,
  }));
  const runs: StreamRunResult[] = [];
  try {
    for (const streams of args.streams) {
      for (let rep = 1; rep <= args.reps; rep++) {
        for (const target of inRotation(targets, rep)) {
          const run = await measureStream(target, backend, streams, rep, args);
          runs.push(run);
          console.error(`[${context.progress()}] stream ${streams} ${target.name} rep ${rep}: ${progressLine(run)}`);
          await sleep(SETTLE_MS);
        }
      }
    }
  } finally {
    await stopTargets(started, context.exitCodes);
  }
  const described = describeTargets(started);
  const { section, summaries } = renderStreamSection(runs, described, upstreamConnections, args);
  return { runs, section, summaries, targets: described };
}

function progressLine(run: StreamRunResult): string {
  return (
    `${Math.round(run.tokensPerSec)} tok/s, ` +
    `proxy ${run.proxyCpuUsPerToken?.toFixed(1) ?? '-'} µs/tok, backend ${run.backendCpuUsPerToken?.toFixed(1)} µs/tok, ` +
    `TTFT p50/p99 ${run.ttftP50?.toFixed(1)}/${run.ttftP99?.toFixed(1)} ms, gap p50/p99 ${run.gapP50?.toFixed(2)}/${run.gapP99?.toFixed(2)} ms, lost ${run.lostTokens}, failed ${run.failed}, ` +
    `CPU% backend ${run.backendCpuPct?.toFixed(0)} proxy ${run.proxyCpuPct?.toFixed(0) ?? '-'} loadgen ${run.loadgenCpuPct.toFixed(0)}` +
    (run.errorSamples.length > 0 ? ` errors: ${run.errorSamples.join('; ')}` : '')
  );
}
