import { fromTuple, type GiveItem, type LeaseItem, type TenantPrimaryMessage, toTuple, type WireVerdict } from './admission-messages.js';
import type { LimitStore } from './limit-store.js';
import type { LeaseVerdict } from './verdict.js';

const UNAVAILABLE: WireVerdict = Object.freeze({
  ok: false,
  limit: 'unavailable',
  message: 'the shared rate-limit store is unavailable',
  requests: null,
  tokens: null,
  budgetLeft: null,
});

/**
 * The primary's side of the limits: answers each worker's leases from the store, in one message per batch,
 * and takes back what workers give. It counts the max_parallel slots each worker holds: a worker that dies
 * cannot give them back, so they are given back for it (the other units it held count as spent).
 */
export class AdmissionService {
  readonly #store: LimitStore;
  readonly #send: (workerId: number, message: TenantPrimaryMessage) => boolean;
  /** max_parallel slots held, by worker and key. */
  readonly #slots = new Map<number, Map<string, number>>();

  /** `send` returns false when the worker is gone. */
  constructor(store: LimitStore, send: (workerId: number, message: TenantPrimaryMessage) => boolean) {
    this.#store = store;
    this.#send = send;
  }

  onLease(workerId: number, items: readonly LeaseItem[]): void {
    const answered: Array<[number, WireVerdict]> = [];
    for (const [id, tenant, need, want] of items) {
      const verdict = this.#store.lease(tenant, { need: fromTuple(need), want: fromTuple(want) });
      if (verdict instanceof Promise) {
        verdict.then(
          (settled) => {
            const wire = this.#record(workerId, tenant, settled);
            // The worker may have gone while the store decided: what it was granted goes back.
            if (!this.#send(workerId, { type: 'iproxy:verdicts', v: [[id, wire]] })) this.#lost(workerId, tenant, settled);
          },
          () => this.#send(workerId, { type: 'iproxy:verdicts', v: [[id, UNAVAILABLE]] }),
        );
      } else {
        answered.push([id, this.#record(workerId, tenant, verdict)]);
      }
    }
    if (answered.length > 0 && !this.#send(workerId, { type: 'iproxy:verdicts', v: answered })) this.workerGone(workerId);
  }

  onGive(workerId: number, items: readonly GiveItem[]): void {
    for (const [tenant, units, period] of items) {
      this.#store.give(tenant, fromTuple(units), period < 0 ? null : period);
      this.#addSlots(workerId, tenant, -units[3]);
    }
  }

  /** The worker exited: the max_parallel slots it held are free again. */
  workerGone(workerId: number): void {
    const held = this.#slots.get(workerId);
    this.#slots.delete(workerId);
    if (held === undefined) return;
    for (const [tenant, slots] of held) if (slots > 0) this.#store.give(tenant, { requests: 0, tokens: 0, budget: 0, slots }, null);
  }

  #record(workerId: number, tenant: string, verdict: LeaseVerdict | null): WireVerdict {
    if (verdict === null) return UNAVAILABLE;
    const { requests, tokens, budgetLeft } = verdict.view;
    if (!verdict.ok) {
      return {
        ok: false,
        limit: verdict.limit,
        retryAfterMs: verdict.retryAfterMs,
        message: verdict.message,
        requests,
        tokens,
        budgetLeft,
      };
    }
    this.#addSlots(workerId, tenant, verdict.granted.slots);
    return { ok: true, granted: toTuple(verdict.granted), period: verdict.period ?? -1, requests, tokens, budgetLeft };
  }

  #lost(workerId: number, tenant: string, verdict: LeaseVerdict | null): void {
    if (verdict === null || !verdict.ok) return;
    this.#store.give(tenant, { ...verdict.granted, slots: 0 }, verdict.period);
    this.workerGone(workerId);
  }

  #addSlots(workerId: number, tenant: string, slots: number): void {
    if (slots === 0) return;
    let held = this.#slots.get(workerId);
    if (held === undefined) {
      held = new Map();
      this.#slots.set(workerId, held);
    }
    held.set(tenant, Math.max(0, (held.get(tenant) ?? 0) + slots));
  }
}
