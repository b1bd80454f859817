import type { RoutingPolicy } from '../config/types.js';
import { createLeastLoad } from './least-load.js';
import { createRandom } from './random.js';
import { createRoundRobin } from './round-robin.js';

/** What a selection policy may look at: a backend's URL (its identity), its load and its weight right now. */
export interface Candidate {
  readonly url: string;
  /** Requests in progress on this backend over all workers (this worker's exact, the others' as last reported). */
  load(): number;
  /** Configured weight, scaled down while the backend is in slow start; always > 0. */
  effectiveWeight(nowMs: number): number;
}

/** What a request tells the router, read once after its body is inspected. */
export interface RoutingFacts {
  /** The `model` of the request body; null when there is none (or no body). */
  readonly model: string | null;
}

/**
 * The seam for selection policies (Caddy's Selector): pick one of the candidates, which the backend set
 * has already narrowed to those that serve the model, are up and were not tried yet. Never called with
 * an empty list.
 */
export interface Selector {
  select<C extends Candidate>(candidates: readonly C[], facts: RoutingFacts, nowMs: number): C;
}

export function createSelector(policy: RoutingPolicy): Selector {
  switch (policy) {
    case 'least-load':
      return createLeastLoad();
    case 'round-robin':
      return createRoundRobin();
    case 'random':
      return createRandom();
  }
}
