import type { AffinityBound } from '../config/types.js';
import type { AffinityResult } from './affinity.js';
import type { KeyHash } from './key-hash.js';
import type { KeyKind } from './routing-key.js';

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

interface SelectorOptions {
  /** Keyed policies: the bound on a home backend's load, as a multiple of the mean. */
  readonly loadFactor: number;
  /** Keyed policies: what that bound counts. */
  readonly bound: AffinityBound;
  /** Keyed policies: where each first attempt's result goes (routing_affinity_total). */
  record(result: AffinityResult): void;
}

/**
 * A selection policy, as its file under ./policies/ declares it (one file each, exported as `policy`;
 * policy-registry.ts finds them by reading that directory, so no other file lists them: Caddy's modules).
 */
export interface RoutingPolicy {
  /** The --routing value, and the name of its file (`policies/<name>.ts`). */
  readonly name: string;
  /** What it picks, in a few words: --help and the configuration docs show it after the name. */
  readonly summary: string;
  /**
   * The routing key it routes by, which the proxy then reads from every request (routing-key.ts); null for
   * none. A keyed policy says how each first attempt's key fared through `record` (routing_affinity_total)
   * and is asked even when one candidate is left.
   */
  readonly key: KeyKind | null;
  /**
   * Equal backends at light load get exactly equal shares (a smooth weighted cycle); false when the shares
   * only converge (random draws, hashed keys). The shared policy tests hold each policy to what it declares.
   */
  readonly exactShares: boolean;
  create(options: SelectorOptions): Selector;
}
