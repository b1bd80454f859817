import type { TenantKey } from './tenant-types.js';
import type { Ticket, Verdict } from './verdict.js';

/**
 * Where the limits are kept, as the primary sees it: in this process (LocalStore, exact across the
 * workers) or shared through Redis (RedisStore). One seam, so the admission service does not know which.
 */
export interface LimitStore {
  /** Resolves once the store can be used (Redis: connected, or given up on after a bound). */
  start(): Promise<void>;
  /** Null: the store cannot decide now (shared store down and --redis-failure closed): the request gets 503. */
  admit(tenant: string, tokens: number): Verdict | null | Promise<Verdict | null>;
  /** The admitted request ended having used `used` tokens. */
  settle(ticket: Ticket, used: number): void;
  /** Tokens left in each budgeted key's budget, for tenant_budget_remaining_tokens. */
  budgets(): Iterable<[string, number]>;
  reconfigure(keys: readonly TenantKey[]): void;
  close(): Promise<void>;
}
