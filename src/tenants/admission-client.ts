import type { AdmitItem, SettleItem, TenantPrimaryMessage, TenantWorkerMessage, WireVerdict } from './admission-messages.js';

/** How often pending admissions are checked against their deadline (only while some are pending). */
const SWEEP_MS = 100;

export const NO_ANSWER: WireVerdict = Object.freeze({
  ok: false,
  limit: 'unavailable',
  message: 'the proxy could not decide on the rate limits in time',
  requests: null,
  tokens: null,
});

interface Pending {
  readonly resolve: (verdict: WireVerdict) => void;
  readonly deadline: number;
}

/**
 * A worker's side of admission: asks the primary, which holds the limits for every worker. The first
 * admission of a turn of the event loop goes out at once (no added wait when requests come one by one);
 * the others of that turn, and all settles, go together at its end (one message for a burst). An answer
 * that does not come within `timeoutMs` becomes NO_ANSWER (503), so a request never waits unbounded.
 */
export class AdmissionClient {
  readonly #send: (message: TenantWorkerMessage) => boolean;
  readonly #timeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #admits: AdmitItem[] = [];
  #settles: SettleItem[] = [];
  #turnBusy = false;
  #sweep: NodeJS.Timeout | null = null;

  constructor(send: (message: TenantWorkerMessage) => boolean, timeoutMs: number) {
    this.#send = send;
    this.#timeoutMs = timeoutMs;
  }

  /** Resolves with the primary's verdict; the id in `ids` names the request for settle(). */
  admit(tenant: string, tokens: number): { readonly id: number; readonly verdict: Promise<WireVerdict> } {
    const id = this.#nextId++;
    const verdict = new Promise<WireVerdict>((resolve) => {
      this.#pending.set(id, { resolve, deadline: performance.now() + this.#timeoutMs });
    });
    this.#sweep ??= setInterval(this.#expire, SWEEP_MS).unref();
    if (this.#turnBusy) this.#admits.push([id, tenant, tokens]);
    else {
      this.#startTurn();
      if (!this.#send({ type: 'iproxy:admit', q: [[id, tenant, tokens]] })) this.#answer(id, NO_ANSWER);
    }
    return { id, verdict };
  }

  settle(id: number, used: number): void {
    this.#settles.push([id, used]);
    this.#startTurn();
  }

  onMessage(message: TenantPrimaryMessage): void {
    for (const [id, verdict] of message.v) this.#answer(id, verdict);
  }

  #answer(id: number, verdict: WireVerdict): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    pending.resolve(verdict);
    if (this.#pending.size === 0 && this.#sweep !== null) {
      clearInterval(this.#sweep);
      this.#sweep = null;
    }
  }

  #startTurn(): void {
    if (this.#turnBusy) return;
    this.#turnBusy = true;
    setImmediate(this.#flush);
  }

  readonly #flush = (): void => {
    this.#turnBusy = false;
    if (this.#admits.length > 0) {
      const admits = this.#admits;
      this.#admits = [];
      if (!this.#send({ type: 'iproxy:admit', q: admits })) for (const [id] of admits) this.#answer(id, NO_ANSWER);
    }
    if (this.#settles.length > 0) {
      const settles = this.#settles;
      this.#settles = [];
      this.#send({ type: 'iproxy:settle', s: settles });
    }
  };

  readonly #expire = (): void => {
    const now = performance.now();
    for (const [id, pending] of this.#pending) if (pending.deadline <= now) this.#answer(id, NO_ANSWER);
  };
}
