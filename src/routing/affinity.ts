import { createLeastLoad } from './least-load.js';
import { rendezvousScore } from './rendezvous.js';
import type { Candidate, RoutingFacts, SelectionContext, Selector } from './selector.js';

/**
 * What the load bound counts: requests still waiting for their first byte (prefill, the default), or all
 * requests in progress (plain bounded loads). The benchmark compares the two; it is not a flag.
 */
export type AffinityBound = 'prefill' | 'in-flight' | 'both';
export const AFFINITY_BOUND_ENV = 'NODE_INFERENCE_PROXY_AFFINITY_BOUND';

function boundFromEnv(): AffinityBound {
  const value = process.env[AFFINITY_BOUND_ENV];
  return value === 'in-flight' || value === 'prefill' ? value : 'both';
}

/** How an affinity-routed request went (routing_affinity_total{result}). */
export const AFFINITY_RESULTS = ['home', 'overflow', 'unavailable', 'no_key'] as const;
export type AffinityResult = (typeof AFFINITY_RESULTS)[number];

/**
 * Consistent hashing with bounded loads (Mirrokni, Thorup and Zadimoghaddam) over weighted rendezvous
 * hashing: each key has a home (its highest-ranked backend among those that serve the model) and a fixed
 * order of next choices. The weights are the effective ones: a backend in slow start ranks first for a
 * growing share of keys as it ramps up, and in steady state the home depends only on the key and the set
 * of backends. A request goes to the first backend in that order that is a candidate (up, not
 * tried, not held) and not over the bound; requests without a key go to least-load.
 *
 * The bound is on the requests still waiting for their first byte, not on all requests in progress: the
 * queue that a prefix cache shortens is the prefill queue, and requests that are decoding do not hold it
 * (measured: see bench/README.md, "routing"). A backend is over it when that count exceeds the load factor
 * times the weighted mean over the candidates, counting this request; a backend with at most one is never
 * over it, so at light load a key never moves, whatever the other workers last reported.
 */
export function createAffinity(
  loadFactor: number,
  record: (result: AffinityResult) => void,
  bound: AffinityBound = boundFromEnv(),
): Selector {
  const fallback = createLeastLoad();
  const ranked: Array<{ candidate: Candidate; score: number }> = [];
  return {
    select<C extends Candidate>(candidates: readonly C[], facts: RoutingFacts, nowMs: number, context: SelectionContext<C>): C {
      const key = facts.key;
      if (key === null) {
        if (context.first) record('no_key');
        return fallback.select(candidates, facts, nowMs, context);
      }
      let home: C | null = null;
      let homeScore = Number.NEGATIVE_INFINITY;
      for (const backend of context.eligible) {
        const score = rendezvousScore(key, backend.url, backend.effectiveWeight(nowMs));
        if (score > homeScore) {
          homeScore = score;
          home = backend;
        }
      }
      // The totals over the candidates, counting this request.
      let inFlight = 1;
      let prefill = 1;
      let weights = 0;
      ranked.length = 0;
      for (const candidate of candidates) {
        inFlight += candidate.load();
        prefill += candidate.prefillLoad();
        weights += candidate.effectiveWeight(nowMs);
        ranked.push({ candidate, score: rendezvousScore(key, candidate.url, candidate.effectiveWeight(nowMs)) });
      }
      ranked.sort((a, b) => b.score - a.score);
      let chosen: C | null = null;
      for (const { candidate } of ranked) {
        const share = (loadFactor * candidate.effectiveWeight(nowMs)) / weights;
        const overInFlight = candidate.load() > Math.max(1, share * inFlight);
        const overPrefill = candidate.prefillLoad() > Math.max(1, share * prefill);
        const over = bound === 'in-flight' ? overInFlight : bound === 'prefill' ? overPrefill : overInFlight && overPrefill;
        if (!over) {
          chosen = candidate as C;
          break;
        }
      }
      ranked.length = 0;
      // Every candidate over the bound (a burst): the least loaded of them, as least-load would.
      chosen ??= fallback.select(candidates, facts, nowMs, context);
      if (context.first) record(chosen === home ? 'home' : home !== null && candidates.includes(home) ? 'overflow' : 'unavailable');
      return chosen;
    },
  };
}
