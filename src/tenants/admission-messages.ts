import type { Units } from './allowance.js';
import type { RateView } from './gcra.js';

/** Units on the wire: [requests, tokens, budget tokens, max_parallel slots]. */
export type UnitsTuple = [requests: number, tokens: number, budget: number, slots: number];
/** A lease asked of the primary: [id (per worker), key name, at least these units, up to these]. */
export type LeaseItem = [id: number, tenant: string, need: UnitsTuple, want: UnitsTuple];
/** Units a worker gives back: [key name, units (negative: used beyond what it held), budget period (-1: none)]. */
export type GiveItem = [tenant: string, units: UnitsTuple, period: number];

/** The primary's answer to one lease. */
export interface WireVerdict {
  readonly ok: boolean;
  /** Granted: the units, and the budget period they belong to (-1: none). */
  readonly granted?: UnitsTuple;
  readonly period?: number;
  /** Refused: the limit, or `unavailable` when the shared store could not decide (--redis-failure closed). */
  readonly limit?: 'rpm' | 'tpm' | 'parallel' | 'budget' | 'unavailable';
  /** When the request would fit; null: never. */
  readonly retryAfterMs?: number | null;
  readonly message?: string;
  readonly requests: RateView | null;
  readonly tokens: RateView | null;
  readonly budgetLeft: number | null;
}

/**
 * Worker to primary: every give and lease of one turn of the event loop in one message (each message is a
 * write to the IPC pipe, and wakes the primary). Gives come first: they may free what the leases need.
 */
export type TenantWorkerMessage = { type: 'iproxy:limits'; g: GiveItem[]; q: LeaseItem[] };
/** Primary to worker. */
export type TenantPrimaryMessage = { type: 'iproxy:verdicts'; v: Array<[id: number, verdict: WireVerdict]> };

export const toTuple = (units: Units): UnitsTuple => [units.requests, units.tokens, units.budget, units.slots];
export const fromTuple = ([requests, tokens, budget, slots]: UnitsTuple): Units => ({ requests, tokens, budget, slots });
