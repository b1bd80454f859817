import type { AffinityBound } from '../config/types.js';
import { createLeastLoad } from './policies/least-load.js';
import { rendezvousScore } from './rendezvous.js';
import type { Candidate, RoutingFacts, SelectionContext, Selector } from './selector.js';

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
 * The bound: a backend is over it when it has more requests in progress than the load factor times its
 * weighted share of all requests in progress over the candidates (counting this request, and the other
 * workers' as last reported), and also more requests waiting for their first byte than the same share of
 * those. A home that is busy decoding but whose prefill queue is short keeps its keys (a miss costs a whole
 * prefix's prefill, a wait in a short queue much less); one whose prefill queue backs up sheds the overflow
 * to the key's next choice. A backend with at most one request is never over either count, so at light
 * load a key never moves, whatever the other workers last reported.
 */
export function createAffinity(loadFactor: number, record: (result: AffinityResult) => void, bound: AffinityBound): Selector {
  const fallback = createLeastLoad();
  const ranked: Array<{ candidate: Candidate; score: number }> = [];
  return {
    select<C extends Candidate>(candidates: readonly C[], facts: RoutingFacts, nowMs: number, context: SelectionContext<C>): C {
      const key = facts.key;
      if (key === null) {
        if (context.first) record('no_key');
        return fallback.select(candidates, facts, nowMs, context);
      }
      // Every eligible backend ranked once by its score for the key: the first is the key's home, and the
      // candidates are tried in this order.
      ranked.length = 0;
      for (const backend of context.eligible) {
        ranked.push({ candidate: backend, score: rendezvousScore(key, backend.url, backend.effectiveWeight(nowMs)) });
      }
      ranked.sort((a, b) => b.score - a.score);
      const home = (ranked[0]?.candidate as C | undefined) ?? null;
      // The totals over the candidates, counting this request.
      let inFlight = 1;
      let prefill = 1;
      let weights = 0;
      for (const candidate of candidates) {
        inFlight += candidate.load();
        prefill += candidate.prefillLoad();
        weights += candidate.effectiveWeight(nowMs);
      }
      let chosen: C | null = null;
      for (const { candidate } of ranked) {
        if (!candidates.includes(candidate as C)) continue;
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
