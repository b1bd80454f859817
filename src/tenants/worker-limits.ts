import type { AdmissionClient } from './admission-client.js';
import { fromTuple, type WireVerdict } from './admission-messages.js';
import { Allowance, LEASE_TTL_MS } from './allowance.js';
import { periodEnd } from './budget-period.js';
import { budgetMessage, rateMessage } from './local-limiter.js';
import type { TenantKey } from './tenant-types.js';
import type { LimitsView, Ticket } from './verdict.js';

/** How often held units are checked for their age (only while some key holds any). */
const LEASE_CHECK_MS = 250;

/** A request admitted from what the worker holds. */
export interface Admitted {
  readonly ok: true;
  readonly ticket: Ticket;
  readonly view: LimitsView;
}

/** A request refused, by the primary's answer or here (it asks more than the whole limit). */
export type Refusal = Omit<WireVerdict, 'ok'> & { readonly ok: false };

/**
 * A worker's holdings of every limited key's units, leased from the primary: a request that its key's
 * holding covers is admitted here at once, with no message to the primary; only when the holding runs
 * short does the worker ask for a lease (at least what the request needs, up to a chunk more), one at a time
 * per key. A request's settle refunds or charges the holding; what is left goes back to the primary
 * LEASE_TTL_MS after it was leased, so an idle worker holds nothing.
 */
export class WorkerLimits {
  readonly #client: AdmissionClient;
  readonly #allowances = new Map<string, Allowance>();
  readonly #pending = new Map<string, Promise<unknown>>();
  #timer: NodeJS.Timeout | null = null;

  constructor(keys: readonly TenantKey[], client: AdmissionClient) {
    this.#client = client;
    for (const key of keys) this.#allowances.set(key.name, new Allowance(key.limits));
  }

  admit(tenant: string, tokens: number): Admitted | Refusal | Promise<Admitted | Refusal> {
    const allowance = this.#allowances.get(tenant);
    if (allowance === undefined) return { ok: true, ticket: { tenant, tokens: 0, period: null, parallel: false }, view: NO_HEADERS };
    const pending = this.#pending.get(tenant);
    if (pending !== undefined) return pending.then(() => this.admit(tenant, tokens));
    const now = Date.now();
    allowance.roll(now);
    const never = this.#never(allowance, tokens, now);
    if (never !== null) return never;
    const short = allowance.shortfall(tokens);
    if (short === null) return { ok: true, ticket: allowance.spend(tenant, tokens), view: allowance.view(now) };
    const lease = this.#client.lease(tenant, short).then((verdict): Admitted | Refusal => {
      const at = Date.now();
      const view = { requests: verdict.requests, tokens: verdict.tokens, budgetLeft: verdict.budgetLeft };
      if (!verdict.ok || verdict.granted === undefined) return { ...verdict, ok: false };
      allowance.add(fromTuple(verdict.granted), view, at);
      this.#arm();
      return { ok: true, ticket: allowance.spend(tenant, tokens), view: allowance.view(at) };
    });
    const settled = lease.finally(() => this.#pending.delete(tenant));
    this.#pending.set(tenant, settled);
    return settled;
  }

  /** The request ended having used `used` tokens: the holding takes the refund (or the charge). */
  settle(ticket: Ticket, used: number): void {
    const allowance = this.#allowances.get(ticket.tenant);
    if (allowance === undefined) return;
    allowance.settle(ticket, used);
    if (allowance.leasedAt === 0 && allowance.holding) allowance.leasedAt = Date.now();
    this.#arm();
  }

  /** Gives back everything held (a worker about to exit): what it keeps would count as spent. */
  releaseAll(): void {
    for (const [tenant, allowance] of this.#allowances) {
      if (!allowance.holding) continue;
      this.#client.give(tenant, allowance.release(), allowance.limits.budget === null ? null : allowance.period);
    }
  }

  /** A request asking more tokens than the key's whole tpm or budget would wait for ever: refused here. */
  #never(allowance: Allowance, tokens: number, now: number): Refusal | null {
    const { tokens: rate, budget } = allowance.limits;
    if ((rate === null || tokens <= rate.amount) && (budget === null || tokens <= budget.tokens)) return null;
    const view = allowance.view(now);
    const refusal = { retryAfterMs: null, requests: view.requests, tokens: view.tokens, budgetLeft: view.budgetLeft, ok: false } as const;
    if (rate !== null && tokens > rate.amount) return { ...refusal, limit: 'tpm', message: rateMessage('tokens', rate, tokens) };
    if (budget !== null && tokens > budget.tokens) {
      return {
        ...refusal,
        limit: 'budget',
        message: budgetMessage(view.budgetLeft ?? budget.tokens, budget.tokens, tokens, periodEnd(budget, now)),
      };
    }
    return null;
  }

  #arm(): void {
    if (this.#timer !== null) return;
    this.#timer = setInterval(this.#check, LEASE_CHECK_MS);
    this.#timer.unref();
  }

  readonly #check = (): void => {
    const now = Date.now();
    let holding = false;
    for (const [tenant, allowance] of this.#allowances) {
      if (!this.#pending.has(tenant) && allowance.holding && allowance.leasedAt !== 0 && now - allowance.leasedAt >= LEASE_TTL_MS) {
        const period = allowance.limits.budget === null ? null : allowance.period;
        this.#client.give(tenant, allowance.release(), period);
      }
      if (allowance.holding) holding = true;
    }
    if (!holding && this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  };
}

const NO_HEADERS: LimitsView = Object.freeze({ requests: null, tokens: null, budgetLeft: null });
