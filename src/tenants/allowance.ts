import { periodEnd, periodOf } from './budget-period.js';
import type { RateView } from './gcra.js';
import type { TenantLimits } from './tenant-types.js';
import type { LimitsView, Ticket } from './verdict.js';

/** Amounts of each limit: requests (rpm), tokens (tpm), budget tokens and max_parallel slots. */
export interface Units {
  readonly requests: number;
  readonly tokens: number;
  readonly budget: number;
  readonly slots: number;
}

export const NO_UNITS: Units = Object.freeze({ requests: 0, tokens: 0, budget: 0, slots: 0 });

/** What a holder asks its source for: at least `need` of each limit, up to `want`. */
export interface LeaseAsk {
  readonly need: Units;
  readonly want: Units;
}

/**
 * A lease asks for this share of a rate (or of max_parallel) beyond what the request needs: a worker, or
 * an instance's primary with Redis, spends it without asking again. The worst-case over-admission is what
 * all holders have unspent at once (README, "Tenants").
 */
const LEASE_FRACTION = 0.05;
/** A budget lasts a month: its chunks are smaller. */
const BUDGET_LEASE_FRACTION = 0.001;
/**
 * A source grants more than the need only from what is free beyond this share of the limit (of the budget:
 * BUDGET_FLOOR_FRACTION). Near its limit a key is leased exactly what each request needs, so that no holder
 * sits on units another one is refused for: the limit is exact across holders when it matters.
 */
const LEASE_FLOOR_FRACTION = 0.5;
const BUDGET_FLOOR_FRACTION = 0.01;

/** The most a source grants beyond `need`: what the holder wants, from what is free beyond the floor. */
export function extraOf(want: number, need: number, freeAfterNeed: number, limit: number, budget = false): number {
  const floor = Math.ceil(limit * (budget ? BUDGET_FLOOR_FRACTION : LEASE_FLOOR_FRACTION));
  return Math.max(0, Math.min(want - need, freeAfterNeed - floor));
}
/** Unspent units go back this long after they were leased, so that an idle holder holds nothing. */
export const LEASE_TTL_MS = 1_000;

export function chunkOf(limit: number, budget = false): number {
  return Math.max(1, Math.ceil(limit * (budget ? BUDGET_LEASE_FRACTION : LEASE_FRACTION)));
}

/** A key's units held by one holder (a worker, or a primary in front of Redis), taken from its source in leases. */
export class Allowance {
  limits: TenantLimits;
  requests = 0;
  tokens = 0;
  budget = 0;
  /** The budget period the budget units belong to. */
  period = -1;
  slotsHeld = 0;
  slotsUsed = 0;
  /** When the units now held were leased (Date.now()); 0 when none are. */
  leasedAt = 0;
  /** The source's view at the last lease, for headers between leases. */
  #remote: LimitsView = { requests: null, tokens: null, budgetLeft: null };
  #remoteAt = 0;
  #periodEndsAt = 0;

  constructor(limits: TenantLimits) {
    this.limits = limits;
  }

  /** A new budget period: units of the old one belong to it, and the new one starts with none held here. */
  roll(now: number): void {
    const budget = this.limits.budget;
    // The period is worked out again only when the current one is over (a month's needs a Date).
    if (budget === null || now < this.#periodEndsAt) return;
    const period = periodOf(budget, now);
    this.#periodEndsAt = periodEnd(budget, now);
    if (period === this.period) return;
    this.period = period;
    this.budget = 0;
    this.#remote = { ...this.#remote, budgetLeft: null };
  }

  /** What one request reserving `tokens` needs beyond what is held; null when it is covered. */
  shortfall(tokens: number): LeaseAsk | null {
    const { requests, tokens: rate, budget, parallel } = this.limits;
    // The common case, covered, allocates nothing.
    if (
      (requests === null || this.requests >= 1) &&
      (rate === null || this.tokens >= tokens) &&
      (budget === null || this.budget >= tokens) &&
      (parallel === null || this.slotsHeld > this.slotsUsed)
    ) {
      return null;
    }
    const need = {
      requests: requests === null ? 0 : Math.max(0, 1 - this.requests),
      tokens: rate === null ? 0 : Math.max(0, tokens - this.tokens),
      budget: budget === null ? 0 : Math.max(0, tokens - this.budget),
      slots: parallel === null || this.slotsHeld > this.slotsUsed ? 0 : 1,
    };
    const want = {
      requests: need.requests === 0 ? 0 : need.requests + chunkOf(requests?.amount ?? 0),
      tokens: need.tokens === 0 ? 0 : need.tokens + chunkOf(rate?.amount ?? 0),
      budget: need.budget === 0 ? 0 : need.budget + chunkOf(budget?.tokens ?? 0, true),
      slots: need.slots === 0 ? 0 : need.slots + chunkOf(parallel ?? 0) - 1,
    };
    return { need, want };
  }

  /** Adds what the source granted, with its view after the grant. */
  add(granted: Units, view: LimitsView, now: number): void {
    this.requests += granted.requests;
    this.tokens += granted.tokens;
    this.budget += granted.budget;
    this.slotsHeld += granted.slots;
    if (this.leasedAt === 0 && (granted.requests > 0 || granted.tokens > 0 || granted.budget > 0 || granted.slots > 0)) this.leasedAt = now;
    this.#remote = view;
    this.#remoteAt = now;
  }

  /** Spends one request's units (the caller checked shortfall() is null). */
  spend(tenant: string, tokens: number): Ticket {
    const { limits } = this;
    if (limits.requests !== null) this.requests -= 1;
    if (limits.tokens !== null) this.tokens -= tokens;
    if (limits.budget !== null) this.budget -= tokens;
    const parallel = limits.parallel !== null;
    if (parallel) this.slotsUsed++;
    return { tenant, tokens, period: limits.budget === null ? null : this.period, parallel };
  }

  /** The request ended having used `used` tokens: the difference is refunded to (or charged on) what is held. */
  settle(ticket: Ticket, used: number): void {
    if (ticket.parallel && this.slotsUsed > 0) this.slotsUsed--;
    const delta = used - ticket.tokens;
    if (this.limits.tokens !== null) this.tokens -= delta;
    if (this.limits.budget !== null && ticket.period === this.period) this.budget -= delta;
  }

  /** Holds anything to give back: unspent units, a debt, or idle slots. */
  get holding(): boolean {
    return this.requests !== 0 || this.tokens !== 0 || this.budget !== 0 || this.slotsHeld > this.slotsUsed;
  }

  /** Everything held unspent (a negative amount is a debt to charge), taken out: the caller gives it back. */
  release(): Units {
    const units = { requests: this.requests, tokens: this.tokens, budget: this.budget, slots: this.slotsHeld - this.slotsUsed };
    this.requests = 0;
    this.tokens = 0;
    this.budget = 0;
    this.slotsHeld = this.slotsUsed;
    this.leasedAt = 0;
    return units;
  }

  /**
   * The source's view at the last lease, plus what is held here unspent (as if it had not been leased yet:
   * more remaining, an earlier reset), aged by the time since.
   */
  view(now: number): LimitsView {
    const remote = this.#remote;
    const since = now - this.#remoteAt;
    const rate = (view: RateView | null, held: number, perMs: number): RateView | null =>
      view === null
        ? null
        : {
            limit: view.limit,
            remaining: Math.min(view.limit, Math.max(0, view.remaining + held)),
            resetMs: Math.max(0, view.resetMs - since - (held * perMs) / view.limit),
          };
    return {
      requests: rate(remote.requests, this.requests, this.limits.requests?.perMs ?? 0),
      tokens: rate(remote.tokens, this.tokens, this.limits.tokens?.perMs ?? 0),
      budgetLeft: remote.budgetLeft === null ? null : Math.max(0, remote.budgetLeft + this.budget),
    };
  }
}
