import type { AffinityBound, RoutingPolicy } from '../config/types.js';
import { type AffinityResult, createAffinity } from './affinity.js';
import type { KeyHash } from './key-hash.js';
import { createLeastLoad } from './least-load.js';
import { createRandom } from './random.js';
import { createRoundRobin } from './round-robin.js';

/** What a selection policy may look at: a backend's URL (its identity), its load and its weight right now. */
export interface Candidate {
  readonly url: string;
  /** Requests in progress on this backend over all workers (this worker's exact, the others' as last reported). */
  load(): number;
  /** Of those, the ones still waiting for their first response byte: in the backend's prefill (or its queue). */
  prefillLoad(): number;
  /** Configured weight, scaled down while the backend is in slow start; always > 0. */
  effectiveWeight(nowMs: number): number;
}

/** What a request tells the router, read once after its body is inspected. */
export interface RoutingFacts {
  /** The `model` of the request body; null when there is none (or no body). */
  readonly model: string | null;
  /** Affinity routing: the hash of the request's session or prompt prefix; null when it has none. */
  readonly key: KeyHash | null;
}

/** What selection knows beyond the candidates. */
export interface SelectionContext<C extends Candidate> {
  /** Every backend that may serve the model, up or not, tried or not: where a key's home is looked for. */
  readonly eligible: readonly C[];
  /** This is the request's first attempt (a retry is not counted again). */
  readonly first: boolean;
}

/**
 * The seam for selection policies (Caddy's Selector): pick one of the candidates, which the backend set
 * has already narrowed to those that serve the model, are up and were not tried yet. Never called with
 * an empty list.
 */
export interface Selector {
  select<C extends Candidate>(candidates: readonly C[], facts: RoutingFacts, nowMs: number, context: SelectionContext<C>): C;
}

export interface SelectorOptions {
  /** Affinity policies: the bound on a home backend's load, as a multiple of the mean. */
  readonly loadFactor: number;
  /** Affinity policies: what that bound counts. */
  readonly bound: AffinityBound;
  /** Affinity policies: where each first attempt's result goes (routing_affinity_total). */
  record(result: AffinityResult): void;
}

export function createSelector(policy: RoutingPolicy, options: SelectorOptions): Selector {
  switch (policy) {
    case 'session':
    case 'prefix':
      return createAffinity(options.loadFactor, options.record, options.bound);
    case 'least-load':
      return createLeastLoad();
    case 'round-robin':
      return createRoundRobin();
    case 'random':
      return createRandom();
  }
}
