import type { AdmitItem, SettleItem, TenantPrimaryMessage, WireVerdict } from './admission-messages.js';
import type { LimitStore } from './limit-store.js';
import type { Ticket, Verdict } from './verdict.js';

const UNAVAILABLE: WireVerdict = Object.freeze({
  ok: false,
  limit: 'unavailable',
  message: 'the shared rate-limit store is unavailable',
  requests: null,
  tokens: null,
});

/**
 * The primary's side of admission: asks the store for each worker's admissions and answers them in one
 * message per batch, and keeps every admitted request's ticket until its worker says it ended. A worker
 * that dies leaves tickets nobody will settle: they are settled at their reservation (the backend may have
 * done the work), which also frees their max_parallel slots.
 */
export class AdmissionService {
  #store: LimitStore;
  readonly #send: (workerId: number, message: TenantPrimaryMessage) => boolean;
  readonly #tickets = new Map<number, Map<number, Ticket>>();

  /** `send` returns false when the worker is gone. */
  constructor(store: LimitStore, send: (workerId: number, message: TenantPrimaryMessage) => boolean) {
    this.#store = store;
    this.#send = send;
  }

  onAdmit(workerId: number, items: readonly AdmitItem[]): void {
    const answered: Array<[number, WireVerdict]> = [];
    for (const [id, tenant, tokens] of items) {
      const verdict = this.#store.admit(tenant, tokens);
      if (verdict instanceof Promise) {
        verdict.then(
          (settled) => {
            // The worker may have gone while the store decided: then nobody will settle this ticket.
            if (!this.#send(workerId, { type: 'iproxy:verdicts', v: [[id, this.#record(workerId, id, settled)]] }))
              this.workerGone(workerId);
          },
          () => this.#send(workerId, { type: 'iproxy:verdicts', v: [[id, UNAVAILABLE]] }),
        );
      } else {
        answered.push([id, this.#record(workerId, id, verdict)]);
      }
    }
    if (answered.length > 0 && !this.#send(workerId, { type: 'iproxy:verdicts', v: answered })) this.workerGone(workerId);
  }

  onSettle(workerId: number, items: readonly SettleItem[]): void {
    const tickets = this.#tickets.get(workerId);
    if (tickets === undefined) return;
    for (const [id, used] of items) {
      const ticket = tickets.get(id);
      if (ticket === undefined) continue;
      tickets.delete(id);
      this.#store.settle(ticket, used);
    }
  }

  /** The worker exited: whatever it held is settled at its reservation. */
  workerGone(workerId: number): void {
    const tickets = this.#tickets.get(workerId);
    this.#tickets.delete(workerId);
    if (tickets === undefined) return;
    for (const ticket of tickets.values()) this.#store.settle(ticket, ticket.tokens);
  }

  /** Requests admitted and not yet ended, over every worker. */
  get outstanding(): number {
    let count = 0;
    for (const tickets of this.#tickets.values()) count += tickets.size;
    return count;
  }

  #record(workerId: number, id: number, verdict: Verdict | null): WireVerdict {
    if (verdict === null) return UNAVAILABLE;
    const { requests, tokens } = verdict.view;
    if (!verdict.ok)
      return { ok: false, limit: verdict.limit, retryAfterMs: verdict.retryAfterMs, message: verdict.message, requests, tokens };
    let tickets = this.#tickets.get(workerId);
    if (tickets === undefined) {
      tickets = new Map();
      this.#tickets.set(workerId, tickets);
    }
    tickets.set(id, verdict.ticket);
    return { ok: true, requests, tokens };
  }
}
