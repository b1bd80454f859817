import { median, medianOrNull } from '../measurement/stats.js';
import { DIRECT_TARGET, findReferences } from '../targets/target-names.js';
import type { HttpWorkloadName } from '../workloads/workloads.js';
import { fmt, markdownTable, ratio, signed } from './markdown.js';

/** One measured run of one target under one workload. */
export interface RunResult {
  workload: HttpWorkloadName;
  target: string;
  rep: number;
  /** Seconds, as autocannon measured them. */
  duration: number;
  /** Wall seconds between the CPU samples around the run. */
  wall: number;
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  reqPerSec: number;
  latencyP50: number;
  latencyP99: number;
  latencyMean: number;
  /** null for `direct`, or when a worker came or went during the run. */
  proxyCpuUsPerReq: number | null;
  backendCpuUsPerReq: number | null;
  proxyRssMb: number | null;
  proxyProcesses: number | null;
  /** Percent of one core. */
  proxyCpuPct: number | null;
  backendCpuPct: number | null;
  loadgenCpuPct: number;
  /** Percent of the whole machine (all cores). */
  machineBusyPct: number;
  /** Percent of one core used by everything else on the box (other users' jobs, the idle targets, the kernel). */
  otherCpuPct: number;
  accessLogBytesPerReq: number | null;
}

/** Medians over the repetitions of one target and workload. */
export type Summary = Pick<
  RunResult,
  | 'target'
  | 'reqPerSec'
  | 'latencyP50'
  | 'latencyP99'
  | 'proxyCpuUsPerReq'
  | 'backendCpuUsPerReq'
  | 'proxyRssMb'
  | 'proxyCpuPct'
  | 'backendCpuPct'
  | 'loadgenCpuPct'
  | 'machineBusyPct'
  | 'otherCpuPct'
> & { runs: number; failures: number };

export function summarize(target: string, runs: readonly RunResult[]): Summary {
  return {
    target,
    runs: runs.length,
    reqPerSec: median(runs.map((r) => r.reqPerSec)),
    latencyP50: median(runs.map((r) => r.latencyP50)),
    latencyP99: median(runs.map((r) => r.latencyP99)),
    proxyCpuUsPerReq: medianOrNull(runs.map((r) => r.proxyCpuUsPerReq)),
    backendCpuUsPerReq: medianOrNull(runs.map((r) => r.backendCpuUsPerReq)),
    proxyRssMb: medianOrNull(runs.map((r) => r.proxyRssMb)),
    proxyCpuPct: medianOrNull(runs.map((r) => r.proxyCpuPct)),
    backendCpuPct: medianOrNull(runs.map((r) => r.backendCpuPct)),
    loadgenCpuPct: median(runs.map((r) => r.loadgenCpuPct)),
    machineBusyPct: median(runs.map((r) => r.machineBusyPct)),
    otherCpuPct: median(runs.map((r) => r.otherCpuPct)),
    failures: runs.reduce((sum, r) => sum + r.non2xx + r.errors + r.timeouts, 0),
  };
}

/**
 * One markdown table: medians per target, req/s relative to `direct`, proxy CPU per request relative to
 * nginx (1 worker, no access log) and to the simple undici proxy.
 */
export function renderTable(summaries: readonly Summary[]): string {
  const { direct, nginx, simple } = findReferences(summaries);
  const header = [
    'target',
    'req/s',
    'req/s vs direct',
    'p50 ms',
    'p99 ms',
    'proxy CPU µs/req',
    'CPU/req vs nginx',
    'CPU/req vs simple-undici',
    'backend CPU µs/req',
    'proxy RSS MB',
    'CPU % loadgen / backend / proxy / other (1 core = 100)',
    'machine busy %',
    'failed',
  ];
  const rows = summaries.map((s) => [
    s.target,
    fmt(s.reqPerSec),
    ratio(s.reqPerSec, direct?.reqPerSec ?? null),
    fmt(s.latencyP50, 1),
    fmt(s.latencyP99, 1),
    fmt(s.proxyCpuUsPerReq),
    ratio(s.proxyCpuUsPerReq, nginx?.proxyCpuUsPerReq ?? null),
    ratio(s.proxyCpuUsPerReq, simple?.proxyCpuUsPerReq ?? null),
    fmt(s.backendCpuUsPerReq),
    fmt(s.proxyRssMb, 1),
    `${fmt(s.loadgenCpuPct)} / ${fmt(s.backendCpuPct)} / ${fmt(s.proxyCpuPct)} / ${fmt(s.otherCpuPct)}`,
    fmt(s.machineBusyPct),
    String(s.failures),
  ]);
  return markdownTable(header, rows);
}

/**
 * Access log on vs off: proxy CPU per request of `on` relative to `off`, from the medians and rep by rep
 * (runs of the same rep ran back to back, so they saw the same outside load).
 */
export function accessLogCost(on: string, off: string, runs: readonly RunResult[], budgetPct: number): string[] {
  const of = (target: string): RunResult[] => runs.filter((r) => r.target === target).sort((a, b) => a.rep - b.rep);
  const onRuns = of(on);
  const offRuns = of(off);
  const onMedian = medianOrNull(onRuns.map((r) => r.proxyCpuUsPerReq));
  const offMedian = medianOrNull(offRuns.map((r) => r.proxyCpuUsPerReq));
  if (onMedian === null || offMedian === null) return [`Access log cost: unknown (${on} or ${off} has no CPU figure).`];
  const ofMedians = ((onMedian - offMedian) / offMedian) * 100;
  // Same rep = measured back to back, under the same outside load: the paired ratio cancels slow drifts of the machine.
  const paired = onRuns
    .map((r) => {
      const pair = offRuns.find((o) => o.rep === r.rep);
      if (pair?.proxyCpuUsPerReq == null || r.proxyCpuUsPerReq === null) return null;
      return ((r.proxyCpuUsPerReq - pair.proxyCpuUsPerReq) / pair.proxyCpuUsPerReq) * 100;
    })
    .filter((v): v is number => v !== null);
  const pairedMedian = paired.length === 0 ? null : median(paired);
  const reqOn = median(onRuns.map((r) => r.reqPerSec));
  const reqOff = median(offRuns.map((r) => r.reqPerSec));
  const both = [ofMedians, pairedMedian ?? ofMedians];
  const verdict = both.every((v) => v < budgetPct)
    ? 'met'
    : both.every((v) => v >= budgetPct)
      ? 'not met'
      : 'inconclusive (the two estimates fall on both sides of it: noise)';
  return [
    `| | ${on} (access log on) | ${off} (access log off) | on vs off |`,
    '| --- | --- | --- | --- |',
    `| proxy CPU µs/req (median) | ${fmt(onMedian, 1)} | ${fmt(offMedian, 1)} | ${signed(ofMedians)}% (ratio of medians) |`,
    `| proxy CPU µs/req, rep by rep | ${onRuns.map((r) => fmt(r.proxyCpuUsPerReq, 1)).join(', ')} | ${offRuns.map((r) => fmt(r.proxyCpuUsPerReq, 1)).join(', ')} | ${paired.map((v) => `${signed(v)}%`).join(', ') || '–'} (median ${pairedMedian === null ? '–' : `${signed(pairedMedian)}%`}) |`,
    `| req/s (median) | ${fmt(reqOn)} | ${fmt(reqOff)} | ${signed(((reqOn - reqOff) / reqOff) * 100)}% |`,
    '',
    `Target: the access log costs under ${budgetPct}% more proxy CPU per request: **${verdict}** (ratio of medians ${signed(ofMedians)}%, median of the rep-by-rep ratios ${pairedMedian === null ? '–' : `${signed(pairedMedian)}%`}).`,
  ];
}

/** Plain-language warnings the numbers call for, one line per target: saturated backend or machine, outside load, failures. */
export function findings(workload: string, summaries: readonly Summary[]): string[] {
  const notes: string[] = [];
  for (const s of summaries) {
    const issues: string[] = [];
    if (s.backendCpuPct !== null && s.backendCpuPct >= 90) {
      issues.push(`backend saturated (${fmt(s.backendCpuPct)}% of its one thread): req/s is capped by the backend`);
    }
    if (s.loadgenCpuPct >= 90) issues.push(`load generator at ${fmt(s.loadgenCpuPct)}% of its one thread: it may cap req/s`);
    if (s.machineBusyPct >= 95)
      issues.push(`machine ${fmt(s.machineBusyPct)}% busy: req/s is bounded by the 2 shared cores, not by the proxy alone`);
    if (s.otherCpuPct >= 20)
      issues.push(`${fmt(s.otherCpuPct)}% of a core used by processes outside the benchmark (shared machine): noisy`);
    if (s.failures > 0) issues.push(`${s.failures} failed requests (non-2xx, errors, timeouts) over ${s.runs} runs`);
    if (s.target !== DIRECT_TARGET && s.proxyCpuUsPerReq === null)
      issues.push('proxy CPU unknown (a worker came or went during every run)');
    if (issues.length > 0) notes.push(`${workload}/${s.target}: ${issues.join('; ')}.`);
  }
  return notes;
}
