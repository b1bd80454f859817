import type { BenchArgs } from '../bench-args.js';
import { type HttpTarget, measureHttp } from '../measurement/measure-http.js';
import { measureScrapes, type ScrapeReport } from '../measurement/measure-scrapes.js';
import { inRotation } from '../measurement/stats.js';
import { type RunResult, type Summary, summarize } from '../report/http-report.js';
import { renderHttpSection } from '../report/http-section.js';
import type { Server } from '../targets/start-child.js';
import {
  type DescribedTarget,
  describeTargets,
  httpTargetDefs,
  type StartedTarget,
  selectTargets,
  startTargets,
  stopTargets,
  takesPart,
} from '../targets/target-defs.js';
import type { RunContext } from './run-context.js';
import { type HttpWorkloadName, WORKLOADS } from './workloads.js';

/** The target whose /metrics is timed: both workers busy, so a scrape merges two registries. */
const SCRAPED_TARGET = 'proxy-2w';

export interface HttpResults {
  runs: RunResult[];
  sections: string[];
  summaries: Record<string, Summary[]>;
  targets: DescribedTarget[];
  scrapes: ScrapeReport | null;
}

type Target = HttpTarget & { def: StartedTarget['def'] };

/** small and chat: autocannon against every target in turn (A B C … A B C …), all started up front. */
export async function runHttpWorkloads(names: readonly HttpWorkloadName[], context: RunContext): Promise<HttpResults> {
  const { args, backend } = context;
  const defs = selectTargets(httpTargetDefs(context.workDir, context.nginx, context.altNode), args).filter((d) =>
    names.some((n) => takesPart(d, n)),
  );
  const started = await startTargets(defs, backend);
  const targets: Target[] = started.map(({ def, proxy }) => ({
    name: def.name,
    url: proxy?.url ?? backend.url,
    proxy,
    def,
    ...(def.headers === undefined ? {} : { headers: def.headers(backend.url) }),
  }));
  const runs: RunResult[] = [];
  let scrapes: ScrapeReport | null = null;
  try {
    for (const name of names) runs.push(...(await alternate(name, targets, context)));
    const proxy2 = targets.find((t) => t.name === SCRAPED_TARGET);
    if (names.includes('chat') && proxy2?.proxy) scrapes = await timeScrapes(proxy2.name, proxy2.proxy, args);
  } finally {
    await stopTargets(started, context.exitCodes);
  }

  const sections: string[] = [];
  const summaries: Record<string, Summary[]> = {};
  for (const name of names) {
    const list = targets.filter((t) => takesPart(t.def, name)).map((t) => summarize(t.name, ofRuns(runs, name, t.name)));
    summaries[name] = list;
    sections.push(renderHttpSection(name, list, runs, scrapes, args));
  }
  return { runs, sections, summaries, targets: describeTargets(started), scrapes };
}

function ofRuns(runs: readonly RunResult[], workload: HttpWorkloadName, target: string): RunResult[] {
  return runs.filter((r) => r.workload === workload && r.target === target);
}

/** args.reps rounds of one workload, each over every target that takes part. */
async function alternate(name: HttpWorkloadName, targets: readonly Target[], context: RunContext): Promise<RunResult[]> {
  const runs: RunResult[] = [];
  for (let rep = 1; rep <= context.args.reps; rep++) {
    for (const target of inRotation(
      targets.filter((t) => takesPart(t.def, name)),
      rep,
    )) {
      const run = await measureHttp(target, context.backend, WORKLOADS[name], rep, context.args);
      runs.push(run);
      console.error(`[${context.progress()}] ${name} ${target.name} rep ${rep}: ${progressLine(run)}`);
    }
  }
  return runs;
}

function progressLine(run: RunResult): string {
  const failures = run.non2xx + run.errors + run.timeouts;
  return (
    `${Math.round(run.reqPerSec)} req/s, p99 ${run.latencyP99} ms, ` +
    `proxy ${run.proxyCpuUsPerReq?.toFixed(0) ?? '-'} µs/req, CPU% backend ${run.backendCpuPct?.toFixed(0)} proxy ${run.proxyCpuPct?.toFixed(0) ?? '-'} loadgen ${run.loadgenCpuPct.toFixed(0)}` +
    (failures > 0 ? `, FAILED ${run.non2xx} non-2xx ${run.errors} errors ${run.timeouts} timeouts` : '')
  );
}

async function timeScrapes(name: string, proxy: Server, args: BenchArgs): Promise<ScrapeReport> {
  const scrapes = await measureScrapes(name, proxy, args);
  console.error(
    `[scrapes] ${name}: idle p50 ${scrapes.idle.p50Ms.toFixed(1)} ms, under chat load p50 ${scrapes.busy.p50Ms.toFixed(1)} max ${scrapes.busy.maxMs.toFixed(1)} ms`,
  );
  return scrapes;
}
