import { extraOf, type LeaseAsk, type Units } from './allowance.js';
import { periodEnd, periodOf } from './budget-period.js';
import { gcraAdjust, gcraTake, gcraView } from './gcra.js';
import type { TenantKey, TenantLimits } from './tenant-types.js';
import { type LeaseVerdict, type LimitsView, NO_VIEW, perText, type Ticket, type Verdict } from './verdict.js';

/** A refused max_parallel has no natural wait: a request in progress may end any moment. */
export const PARALLEL_RETRY_MS = 1_000;

interface TenantState {
  limits: TenantLimits;
  requestsTat: number;
  tokensTat: number;
  /** max_parallel slots handed out (held by workers, in use or not). */
  slots: number;
  period: number;
  budgetUsed: number;
}

/**
 * Every key's limits held in this process: the primary's for all its workers (embedded mode), and the
 * per-instance fallback when Redis fails (--redis-failure open). Holders lease units from it (lease()) and
 * give back what they did not spend (give()); a lease checks every limit first and takes from all of them
 * only when all can give what is needed (no partial holds).
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
      else this.#tenants.set(key.name, { limits: key.limits, requestsTat: 0, tokensTat: 0, slots: 0, period: -1, budgetUsed: 0 });
    }
  }

  /**
   * Grants, for every limit, between `need` and `want` units (as many as are free), or nothing when one
   * limit cannot give its `need`: then the refusal names it and when the need would fit.
   */
  lease(tenant: string, ask: LeaseAsk, now: number): LeaseVerdict {
    const state = this.#tenants.get(tenant);
    if (state === undefined) return { ok: true, granted: ask.want, period: null, view: NO_VIEW };
    const { limits } = state;
    const { need, want } = ask;
    const budget = limits.budget;
    if (budget !== null) {
      const period = periodOf(budget, now);
      if (period !== state.period) {
        state.period = period;
        state.budgetUsed = 0;
      }
      const left = budget.tokens - state.budgetUsed;
      if (want.budget > 0 && need.budget > left) {
        const end = periodEnd(budget, now);
        return refuse(
          'budget',
          need.budget > budget.tokens ? null : end - now,
          this.#view(state, now),
          budgetMessage(left, budget.tokens, need.budget, end),
        );
      }
    }
    if (limits.parallel !== null && want.slots > 0 && state.slots + need.slots > limits.parallel) {
      return refuse(
        'parallel',
        PARALLEL_RETRY_MS,
        this.#view(state, now),
        `the key has ${limits.parallel} requests in progress, its max_parallel`,
      );
    }
    const requests =
      limits.requests === null || want.requests === 0 ? null : gcraTake(state.requestsTat, now, limits.requests, need.requests);
    if (requests !== null && !requests.ok) {
      return refuse('rpm', requests.retryMs, this.#view(state, now), rateMessage('requests', limits.requests, need.requests));
    }
    const tokens = limits.tokens === null || want.tokens === 0 ? null : gcraTake(state.tokensTat, now, limits.tokens, need.tokens);
    if (tokens !== null && !tokens.ok) {
      return refuse('tpm', tokens.retryMs, this.#view(state, now), rateMessage('tokens', limits.tokens, need.tokens));
    }
    const granted = {
      requests:
        limits.requests === null || requests === null
          ? 0
          : need.requests + extraUnits(requests.tat, now, limits.requests, want.requests, need.requests),
      tokens:
        limits.tokens === null || tokens === null ? 0 : need.tokens + extraUnits(tokens.tat, now, limits.tokens, want.tokens, need.tokens),
      budget:
        budget === null
          ? 0
          : need.budget + extraOf(want.budget, need.budget, budget.tokens - state.budgetUsed - need.budget, budget.tokens, true),
      slots:
        limits.parallel === null
          ? 0
          : need.slots + extraOf(want.slots, need.slots, limits.parallel - state.slots - need.slots, limits.parallel),
    };
    if (limits.requests !== null && requests !== null)
      state.requestsTat = gcraAdjust(state.requestsTat, now, limits.requests, granted.requests);
    if (limits.tokens !== null && tokens !== null) state.tokensTat = gcraAdjust(state.tokensTat, now, limits.tokens, granted.tokens);
    state.budgetUsed += granted.budget;
    state.slots += granted.slots;
    return { ok: true, granted, period: budget === null ? null : state.period, view: this.#view(state, now) };
  }

  /** Units back from a holder (positive: unspent or refunded; negative: used beyond what it held). */
  give(tenant: string, units: Units, period: number | null, now: number): void {
    const state = this.#tenants.get(tenant);
    if (state === undefined) return;
    const { limits } = state;
    if (limits.requests !== null && units.requests !== 0)
      state.requestsTat = gcraAdjust(state.requestsTat, now, limits.requests, -units.requests);
    if (limits.tokens !== null && units.tokens !== 0) state.tokensTat = gcraAdjust(state.tokensTat, now, limits.tokens, -units.tokens);
    // Units of a budget period that is over belong to it: nothing to give back.
    if (limits.budget !== null && period === state.period) state.budgetUsed = Math.max(0, state.budgetUsed - units.budget);
    state.slots = Math.max(0, state.slots - units.slots);
  }

  /** One request admitted on its own (a lease of exactly what it needs), for callers without a holder. */
  admit(tenant: string, tokens: number, now: number): Verdict {
    const limits = this.#tenants.get(tenant)?.limits;
    const one = requestUnits(limits, tokens);
    const lease = this.lease(tenant, { need: one, want: one }, now);
    if (!lease.ok) return lease;
    return { ok: true, view: lease.view, ticket: { tenant, tokens, period: lease.period, parallel: one.slots > 0 } };
  }

  /** The request admitted by admit() ended having used `used` tokens. */
  settle(ticket: Ticket, used: number, now: number): void {
    const back = ticket.tokens - used;
    this.give(ticket.tenant, { requests: 0, tokens: back, budget: back, slots: ticket.parallel ? 1 : 0 }, ticket.period, now);
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

/** Units beyond the need that the rate can still give at `now` once the need is taken (TAT `after`), up to `extra`. */
function extraUnits(after: number, now: number, rate: { amount: number; perMs: number }, want: number, need: number): number {
  return want <= need ? 0 : extraOf(want, need, gcraView(after, now, rate).remaining, rate.amount);
}

/** What one request reserving `tokens` takes from each limit the key has. */
export function requestUnits(limits: TenantLimits | undefined, tokens: number): Units {
  return {
    requests: limits?.requests ? 1 : 0,
    tokens: limits?.tokens ? tokens : 0,
    budget: limits?.budget ? tokens : 0,
    slots: limits?.parallel ? 1 : 0,
  };
}

function refuse(
  limit: 'rpm' | 'tpm' | 'parallel' | 'budget',
  retryAfterMs: number | null,
  view: LimitsView,
  message: string,
): LeaseVerdict {
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
