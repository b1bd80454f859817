import {
  type GiveItem,
  type LeaseItem,
  type TenantPrimaryMessage,
  type TenantWorkerMessage,
  toTuple,
  type WireVerdict,
} from './admission-messages.js';
import type { LeaseAsk, Units } from './allowance.js';

/** How often pending leases are checked against their deadline (only while some are pending). */
const SWEEP_MS = 100;

const NO_ANSWER: WireVerdict = Object.freeze({
  ok: false,
  limit: 'unavailable',
  message: 'the proxy could not decide on the rate limits in time',
  requests: null,
  tokens: null,
  budgetLeft: null,
});

interface Pending {
  readonly resolve: (verdict: WireVerdict) => void;
  readonly deadline: number;
}

/**
 * A worker's line to the primary, which holds the limits for every worker: leases and gives of one turn of
 * the event loop go together in one message at its end (setImmediate). An answer that does not come within
 * `timeoutMs` becomes NO_ANSWER (503), so a request never waits unbounded.
 */
export class AdmissionClient {
  readonly #send: (message: TenantWorkerMessage) => boolean;
  readonly #timeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #leases: LeaseItem[] = [];
  #gives: GiveItem[] = [];
  #turnBusy = false;
  #sweep: NodeJS.Timeout | null = null;

  constructor(send: (message: TenantWorkerMessage) => boolean, timeoutMs: number) {
    this.#send = send;
    this.#timeoutMs = timeoutMs;
  }

  lease(tenant: string, ask: LeaseAsk): Promise<WireVerdict> {
    const id = this.#nextId++;
    const verdict = new Promise<WireVerdict>((resolve) => {
      this.#pending.set(id, { resolve, deadline: performance.now() + this.#timeoutMs });
    });
    this.#sweep ??= setInterval(this.#expire, SWEEP_MS).unref();
    this.#leases.push([id, tenant, toTuple(ask.need), toTuple(ask.want)]);
    this.#startTurn();
    return verdict;
  }

  give(tenant: string, units: Units, period: number | null): void {
    this.#gives.push([tenant, toTuple(units), period ?? -1]);
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
    const leases = this.#leases;
    const gives = this.#gives;
    this.#leases = [];
    this.#gives = [];
    if (!this.#send({ type: 'iproxy:limits', g: gives, q: leases })) for (const [id] of leases) this.#answer(id, NO_ANSWER);
  };

  readonly #expire = (): void => {
    const now = performance.now();
    for (const [id, pending] of this.#pending) if (pending.deadline <= now) this.#answer(id, NO_ANSWER);
  };
}
