import { added, type Bracket, bracketOf, holdsRate, iqr, type Probe } from '../measurement/overhead-stats.js';
import { median, medianOrNull } from '../measurement/stats.js';
import type { OpenLoopOutcome, SequentialOutcome } from '../workloads/overhead-messages.js';
import { ADDED_P99_LIMIT_MS, SATURATED_SHARE } from '../workloads/overhead-workload.js';

/** One sequential run of a target against its reference, as the JSON results keep it. */
export type SequentialRun = Omit<SequentialOutcome, 'kind'> & { target: string; reference: string; rep: number };

/** Where the CPU went over an open-loop window. */
export interface OpenLoopCpu {
  /** Process-tree CPU µs per response in the window; null for direct or when a process came or went. */
  proxyCpuUsPerReq: number | null;
  /** Percent of one core. */
  proxyCpuPct: number | null;
  backendCpuPct: number | null;
  clientCpuPct: number | null;
  /** Percent of all cores. */
  machineBusyPct: number;
}

/** One open-loop run: at a fixed rate of the tables (`rep` ≥ 1) or a probe of the search (`rep` 0). */
export type OpenLoopRun = Omit<OpenLoopOutcome, 'kind'> & OpenLoopCpu & { target: string; reference: string; rep: number };

/** Requests of a run that did not get a 2xx answer: failed, cut after the drain, or never sent. */
export function lostOf(run: Pick<OpenLoopRun, 'failed' | 'unfinished' | 'skipped'>): number {
  return run.failed + run.unfinished + run.skipped;
}

export interface SequentialSummary {
  target: string;
  reference: string;
  /** Medians over the repetitions of each run's delta quantiles, ms. */
  addedP50: number | null;
  addedIqr: number | null;
  /** p99 of the per-round deltas. */
  addedP99: number | null;
  /** p99 of the proxied arm minus p99 of the direct arm (shown beside it: not the same figure). */
  p99Difference: number | null;
  directP50: number | null;
  proxiedP50: number | null;
  rounds: number;
  failed: number;
  cut: boolean;
}

export function summarizeSequential(target: string, runs: readonly SequentialRun[]): SequentialSummary {
  const mine = runs.filter((r) => r.target === target);
  return {
    target,
    reference: mine[0]?.reference ?? target,
    addedP50: medianOrNull(mine.map((r) => r.deltaP50)),
    addedIqr: medianOrNull(mine.map((r) => iqr(r.deltaP25, r.deltaP75))),
    addedP99: medianOrNull(mine.map((r) => r.deltaP99)),
    p99Difference: medianOrNull(mine.map((r) => added(r.proxiedP99, r.directP99))),
    directP50: medianOrNull(mine.map((r) => r.directP50)),
    proxiedP50: medianOrNull(mine.map((r) => r.proxiedP50)),
    rounds: mine.reduce((sum, r) => sum + r.rounds, 0),
    failed: mine.reduce((sum, r) => sum + r.failed, 0),
    cut: mine.some((r) => r.cut),
  };
}

export interface RateSummary {
  target: string;
  rate: number;
  /** Medians over the repetitions, ms; added = this target's figure minus its reference's in the same repetition. */
  p50: number | null;
  p99: number | null;
  addedP50: number | null;
  addedP99: number | null;
  achievedRate: number;
  /** Summed over the repetitions. */
  due: number;
  lost: number;
  failed: number;
  unfinished: number;
  skipped: number;
  /** The worst repetition's: how late the client sent the requests that found a free connection, ms. */
  latenessP99: number | null;
  /** Requests that waited for a connection (all open connections busy, no more allowed), summed. */
  waited: number;
  connectionsOpened: number;
  proxyCpuUsPerReq: number | null;
  held: boolean;
}

/** A target's runs at one rate against the reference's runs of the same repetitions. */
export function summarizeRate(target: string, rate: number, runs: readonly OpenLoopRun[]): RateSummary {
  const mine = runs.filter((r) => r.target === target && r.rate === rate && r.rep > 0);
  const referenceOf = (run: OpenLoopRun): OpenLoopRun | undefined =>
    runs.find((r) => r.target === run.reference && r.rate === rate && r.rep === run.rep);
  const addedAt = (pick: (r: OpenLoopRun) => number | null): number | null =>
    medianOrNull(
      mine.map((r) => {
        const reference = referenceOf(r);
        return reference === undefined ? null : added(pick(r), pick(reference));
      }),
    );
  const sum = (pick: (r: OpenLoopRun) => number): number => mine.reduce((s, r) => s + pick(r), 0);
  const latenesses = mine.map((r) => r.lateness.p99).filter((v): v is number => v !== null);
  const achievedRate = mine.length === 0 ? 0 : median(mine.map((r) => r.achievedRate));
  const addedP99 = addedAt((r) => r.latency.p99);
  const lost = sum(lostOf);
  return {
    target,
    rate,
    p50: medianOrNull(mine.map((r) => r.latency.p50)),
    p99: medianOrNull(mine.map((r) => r.latency.p99)),
    addedP50: addedAt((r) => r.latency.p50),
    addedP99,
    achievedRate,
    due: sum((r) => r.due),
    lost,
    failed: sum((r) => r.failed),
    unfinished: sum((r) => r.unfinished),
    skipped: sum((r) => r.skipped),
    latenessP99: latenesses.length === 0 ? null : Math.max(...latenesses),
    waited: sum((r) => r.waitedForConnection),
    connectionsOpened: mine.length === 0 ? 0 : Math.max(...mine.map((r) => r.connectionsOpened)),
    proxyCpuUsPerReq: medianOrNull(mine.map((r) => r.proxyCpuUsPerReq)),
    held: mine.length > 0 && holdsRate({ addedP99, achievedShare: achievedRate / rate, lost }, ADDED_P99_LIMIT_MS, SATURATED_SHARE),
  };
}

/** Whether a probe of the search (one run of the target, one of its reference just before it) held its rate. */
export function probeHeld(run: OpenLoopRun, reference: OpenLoopRun): boolean {
  const addedP99 = added(run.latency.p99, reference.latency.p99);
  return holdsRate({ addedP99, achievedShare: run.achievedRate / run.rate, lost: lostOf(run) }, ADDED_P99_LIMIT_MS, SATURATED_SHARE);
}

/** The fixed rates' verdicts and the probes', as the search's starting bracket or its result. */
export function bracketFrom(rates: readonly RateSummary[], probes: readonly Probe[]): Bracket {
  return bracketOf([...rates.map((r) => ({ rate: r.rate, held: r.held })), ...probes]);
}
