import type { LeaseAsk, Units } from './allowance.js';
import type { TenantKey } from './tenant-types.js';
import type { LeaseVerdict } from './verdict.js';

/**
 * Where the limits are kept, as the primary sees it: in this process (LocalStore, exact across the
 * workers) or shared through Redis (RedisStore). Workers lease units from it and give back what they did
 * not spend; one seam, so the admission service does not know which store it talks to.
 */
export interface LimitStore {
  /** Resolves once the store can be used (Redis: connected, or given up on after a bound). */
  start(): Promise<void>;
  /** Null: the store cannot decide now (shared store down and --redis-failure closed): the request gets 503. */
  lease(tenant: string, ask: LeaseAsk): LeaseVerdict | null | Promise<LeaseVerdict | null>;
  /** Units back from a worker (negative: used beyond what it held), of budget period `period`. */
  give(tenant: string, units: Units, period: number | null): void;
  /** Tokens left in each budgeted key's budget, for tenant_budget_remaining_tokens. */
  budgets(): Iterable<[string, number]>;
  reconfigure(keys: readonly TenantKey[]): void;
  close(): Promise<void>;
}
