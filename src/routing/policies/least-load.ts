import type { Candidate, RoutingPolicy, Selector } from '../selector.js';
import { SmoothWeighted } from '../smooth-weighted.js';

export const policy: RoutingPolicy = {
  name: 'least-load',
  summary: 'fewest requests in progress per unit of weight, counted over all workers',
  key: null,
  exactShares: true,
  create: () => createLeastLoad(),
};

/**
 * The candidate with the fewest requests in progress per unit of weight, counted over
 * all workers. An exact minimum rather than the power of two choices: this worker's own counts are exact
 * and the others' at most ~100 ms old, so herding on a stale minimum is bounded, and with a handful of
 * backends the full scan costs nothing. Ties (at light load every backend is at 0) go to smooth weighted
 * round-robin, so that weights and slow start still shape the share when nothing is queued anywhere.
 */
export function createLeastLoad(): Selector {
  const tieBreak = new SmoothWeighted();
  const tied: Candidate[] = [];
  return {
    select<C extends Candidate>(candidates: readonly C[], _facts: unknown, nowMs: number): C {
      let bestScore = Number.POSITIVE_INFINITY;
      tied.length = 0;
      for (const candidate of candidates) {
        const score = candidate.load() / candidate.effectiveWeight(nowMs);
        if (score < bestScore) {
          bestScore = score;
          tied.length = 0;
          tied.push(candidate);
        } else if (score === bestScore) tied.push(candidate);
      }
      const chosen = tied.length === 1 ? (tied[0] as C) : tieBreak.pick(tied as C[], nowMs);
      tied.length = 0;
      return chosen;
    },
  };
}
