/** The pure arithmetic of the `overhead` workload: quantiles, per-round deltas, added latency, the rate search. */

/** The nearest-rank quantile q (0..1) of values sorted ascending; null when empty. */
export function quantileSorted(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}

/** The same over unsorted values (copied, not sorted in place). */
export function quantile(values: readonly number[], q: number): number | null {
  return quantileSorted(
    [...values].sort((a, b) => a - b),
    q,
  );
}

/** Quartiles and tail of the per-round deltas (proxied − direct), and of each arm, ms. */
export interface DeltaSummary {
  deltaP25: number | null;
  deltaP50: number | null;
  deltaP75: number | null;
  deltaP99: number | null;
  directP50: number | null;
  directP99: number | null;
  proxiedP50: number | null;
  proxiedP99: number | null;
}

/**
 * Rounds of one direct and one proxied request: round i of `direct` pairs with round i of `proxied`. The added
 * latency is the distribution of the per-round differences, so a slow moment of the shared machine that hits
 * both requests of a round cancels out instead of landing in one arm's tail.
 */
export function summarizeRounds(direct: readonly number[], proxied: readonly number[]): DeltaSummary {
  if (direct.length !== proxied.length) throw new Error(`rounds differ: ${direct.length} direct, ${proxied.length} proxied`);
  const deltas = proxied.map((p, i) => p - direct[i]!).sort((a, b) => a - b);
  const d = [...direct].sort((a, b) => a - b);
  const p = [...proxied].sort((a, b) => a - b);
  return {
    deltaP25: quantileSorted(deltas, 0.25),
    deltaP50: quantileSorted(deltas, 0.5),
    deltaP75: quantileSorted(deltas, 0.75),
    deltaP99: quantileSorted(deltas, 0.99),
    directP50: quantileSorted(d, 0.5),
    directP99: quantileSorted(d, 0.99),
    proxiedP50: quantileSorted(p, 0.5),
    proxiedP99: quantileSorted(p, 0.99),
  };
}

/** The interquartile range; null when either quartile is unknown. */
export function iqr(p25: number | null, p75: number | null): number | null {
  return p25 === null || p75 === null ? null : p75 - p25;
}

/** `target − reference`; null when either is unknown. */
export function added(target: number | null, reference: number | null): number | null {
  return target === null || reference === null ? null : target - reference;
}

/** One open-loop probe, reduced to what the search needs. */
export interface Probe {
  rate: number;
  held: boolean;
}

/** What an open-loop run must show for its target to hold the rate. */
export interface HoldCheck {
  addedP99: number | null;
  /** Responses per second in the window ÷ the rate asked. */
  achievedShare: number;
  /** Failed, unfinished and never-sent requests. */
  lost: number;
}

/** A rate is held when nothing is lost, at least `minShare` of it is answered, and the added p99 stays under `limitMs`. */
export function holdsRate(check: HoldCheck, limitMs: number, minShare: number): boolean {
  return check.lost === 0 && check.achievedShare >= minShare && check.addedP99 !== null && check.addedP99 < limitMs;
}

/**
 * The search interval: `held` is the highest rate known held (null: none), `failed` the lowest rate above it
 * known not held (null: none up to the top). A rate held above a failed one (noise) does not widen it: the
 * interval starts below the lowest failure.
 */
export interface Bracket {
  held: number | null;
  failed: number | null;
}

export function bracketOf(probes: readonly Probe[]): Bracket {
  const failures = probes.filter((p) => !p.held).map((p) => p.rate);
  const failed = failures.length === 0 ? null : Math.min(...failures);
  const helds = probes.filter((p) => p.held && (failed === null || p.rate < failed)).map((p) => p.rate);
  return { held: helds.length === 0 ? null : Math.max(...helds), failed };
}

/**
 * The next rate to try, or null when the bracket is narrow enough (failed / held ≤ precision) or pinned at a
 * bound. Bisection on a log scale (the rates span two orders of magnitude), rounded to two significant digits
 * so the report's rates read as set.
 */
export function nextProbeRate(bracket: Bracket, minRate: number, maxRate: number, precision: number): number | null {
  const low = bracket.held ?? minRate;
  const high = bracket.failed ?? maxRate;
  if (bracket.held !== null && bracket.held >= maxRate) return null;
  if (bracket.failed !== null && bracket.failed <= minRate) return null;
  if (bracket.held === null && bracket.failed !== null && bracket.failed / minRate <= precision) return minRate;
  if (high / low <= precision) return bracket.failed === null ? maxRate : null;
  const next = roundRate(Math.sqrt(low * high));
  return next <= low || next >= high ? null : next;
}

/** Two significant digits: 2236 → 2200, 707 → 710. */
export function roundRate(rate: number): number {
  const magnitude = 10 ** Math.max(0, Math.floor(Math.log10(rate)) - 1);
  return Math.round(rate / magnitude) * magnitude;
}
