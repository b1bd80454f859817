import { periodEnd, periodOf } from './budget-period.js';
import { gcraAdjust, gcraTake, gcraView } from './gcra.js';
import type { TenantKey, TenantLimits } from './tenant-types.js';
import { type LimitsView, NO_VIEW, perText, type Ticket, type Verdict } from './verdict.js';

/** A refused max_parallel has no natural wait: a request in progress may end any moment. */
export const PARALLEL_RETRY_MS = 1_000;

interface TenantState {
  limits: TenantLimits;
  requestsTat: number;
  tokensTat: number;
  inFlight: number;
  period: number;
  budgetUsed: number;
}

/**
 * Every key's limits held in this process: exact for whatever asks it, which is the primary on behalf of
 * all its workers (embedded mode), and the per-instance fallback when Redis fails (--redis-failure open).
 * Admission checks every limit first and takes from all of them only when all allow (no partial holds).
 */
export class LocalLimiter {
  readonly #tenants = new Map<string, TenantState>();

  constructor(keys: readonly TenantKey[]) {
    this.reconfigure(keys);
  }

  /** New limits (SIGHUP): a key that stays keeps what it has used; a key that goes is forgotten. */
  reconfigure(keys: readonly TenantKey[]): void {
    const names = new Set(keys.map((key) => key.name));
    for (const name of this.#tenants.keys()) if (!names.has(name)) this.#tenants.delete(name);
    for (const key of keys) {
      const state = this.#tenants.get(key.name);
      if (state !== undefined) state.limits = key.limits;
      else this.#tenants.set(key.name, { limits: key.limits, requestsTat: 0, tokensTat: 0, inFlight: 0, period: -1, budgetUsed: 0 });
    }
  }

  admit(tenant: string, tokens: number, now: number): Verdict {
    const state = this.#tenants.get(tenant);
    if (state === undefined) return { ok: true, view: NO_VIEW, ticket: { tenant, tokens: 0, period: null, parallel: false } };
    const { limits } = state;
    const budget = limits.budget;
    if (budget !== null) {
      const period = periodOf(budget, now);
      if (period !== state.period) {
        state.period = period;
        state.budgetUsed = 0;
      }
      const left = budget.tokens - state.budgetUsed;
      if (tokens > left) {
        const retry = tokens > budget.tokens ? null : periodEnd(budget, now) - now;
        return refuse('budget', retry, this.#view(state, now), budgetMessage(left, budget.tokens, tokens, periodEnd(budget, now)));
      }
    }
    if (limits.parallel !== null && state.inFlight >= limits.parallel) {
      return refuse(
        'parallel',
        PARALLEL_RETRY_MS,
        this.#view(state, now),
        `the key has ${state.inFlight} requests in progress, its max_parallel`,
      );
    }
    const requests = limits.requests === null ? null : gcraTake(state.requestsTat, now, limits.requests, 1);
    if (requests !== null && !requests.ok) {
      return refuse('rpm', requests.retryMs, this.#view(state, now), rateMessage('requests', limits.requests, 1));
    }
    const cost = limits.tokens === null ? null : gcraTake(state.tokensTat, now, limits.tokens, tokens);
    if (cost !== null && !cost.ok) {
      return refuse('tpm', cost.retryMs, this.#view(state, now), rateMessage('tokens', limits.tokens, tokens));
    }
    if (requests?.ok) state.requestsTat = requests.tat;
    if (cost?.ok) state.tokensTat = cost.tat;
    if (budget !== null) state.budgetUsed += tokens;
    const parallel = limits.parallel !== null;
    if (parallel) state.inFlight++;
    return { ok: true, view: this.#view(state, now), ticket: { tenant, tokens, period: budget === null ? null : state.period, parallel } };
  }

  /** The request ended having used `used` tokens: the difference from its reservation is refunded or charged. */
  settle(ticket: Ticket, used: number, now: number): void {
    const state = this.#tenants.get(ticket.tenant);
    if (state === undefined) return;
    if (ticket.parallel && state.inFlight > 0) state.inFlight--;
    const delta = used - ticket.tokens;
    if (delta === 0) return;
    if (state.limits.tokens !== null) state.tokensTat = gcraAdjust(state.tokensTat, now, state.limits.tokens, delta);
    // A request that straddles the end of a budget period was charged to the old one, which is gone.
    if (state.limits.budget !== null && ticket.period === state.period) state.budgetUsed = Math.max(0, state.budgetUsed + delta);
  }

  /** Tokens left in the key's budget now; null without a budget (or for an unknown key). */
  budgetLeft(tenant: string, now: number): number | null {
    const state = this.#tenants.get(tenant);
    const budget = state?.limits.budget;
    if (state === undefined || budget === null || budget === undefined) return null;
    return periodOf(budget, now) === state.period ? Math.max(0, budget.tokens - state.budgetUsed) : budget.tokens;
  }

  #view(state: TenantState, now: number): LimitsView {
    const { requests, tokens } = state.limits;
    const budget = state.limits.budget;
    return {
      requests: requests === null ? null : gcraView(state.requestsTat, now, requests),
      tokens: tokens === null ? null : gcraView(state.tokensTat, now, tokens),
      budgetLeft: budget === null ? null : Math.max(0, budget.tokens - (periodOf(budget, now) === state.period ? state.budgetUsed : 0)),
    };
  }
}

function refuse(limit: 'rpm' | 'tpm' | 'parallel' | 'budget', retryAfterMs: number | null, view: LimitsView, message: string): Verdict {
  return { ok: false, limit, retryAfterMs, view, message };
}

export function rateMessage(unit: 'requests' | 'tokens', rate: { amount: number; perMs: number } | null, cost: number): string {
  const limit = rate === null ? '' : perText(rate.amount, rate.perMs);
  if (rate !== null && cost > rate.amount) return `the request needs ${cost} tokens, more than the key's limit of ${limit}`;
  return unit === 'requests'
    ? `rate limit reached for requests (${limit})`
    : `rate limit reached for tokens (${limit}; this request needs ${cost})`;
}

export function budgetMessage(left: number, total: number, cost: number, endMs: number): string {
  return `the key's token budget is used up (${Math.max(0, left)} of ${total} left, the request needs ${cost}); it renews at ${new Date(endMs).toISOString()}`;
}
