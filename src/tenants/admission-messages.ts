import type { RateView } from './gcra.js';

/** One admission asked of the primary: [request id (per worker), key name, tokens to reserve]. */
export type AdmitItem = [id: number, tenant: string, tokens: number];
/** One admitted request ended: [request id, tokens it used]. */
export type SettleItem = [id: number, used: number];

/** The primary's answer to one admission, as the worker needs it for the response and its headers. */
export interface WireVerdict {
  readonly ok: boolean;
  /** Why not: a limit, or `unavailable` when the shared store could not decide (--redis-failure closed). */
  readonly limit?: 'rpm' | 'tpm' | 'parallel' | 'budget' | 'unavailable';
  /** When the request would fit; null: never. */
  readonly retryAfterMs?: number | null;
  readonly message?: string;
  readonly requests: RateView | null;
  readonly tokens: RateView | null;
}

/** Worker to primary (batched: every admission or settle of one turn of the event loop in one message). */
export type TenantWorkerMessage = { type: 'iproxy:admit'; q: AdmitItem[] } | { type: 'iproxy:settle'; s: SettleItem[] };
/** Primary to worker. */
export type TenantPrimaryMessage = { type: 'iproxy:verdicts'; v: Array<[id: number, verdict: WireVerdict]> };
