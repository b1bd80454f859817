import type { LeaseAsk, Units } from './allowance.js';
import type { LimitStore } from './limit-store.js';
import { LocalLimiter } from './local-limiter.js';
import type { TenantKey } from './tenant-types.js';
import type { LeaseVerdict } from './verdict.js';

/** Without --redis-url: the primary holds every key's limits for all its workers, on its own clock. */
export class LocalStore implements LimitStore {
  readonly #limiter: LocalLimiter;
  #budgeted: readonly string[];

  constructor(keys: readonly TenantKey[]) {
    this.#limiter = new LocalLimiter(keys);
    this.#budgeted = budgetedNames(keys);
  }

  async start(): Promise<void> {}

  lease(tenant: string, ask: LeaseAsk): LeaseVerdict {
    return this.#limiter.lease(tenant, ask, Date.now());
  }

  give(tenant: string, units: Units, period: number | null): void {
    this.#limiter.give(tenant, units, period, Date.now());
  }

  *budgets(): Iterable<[string, number]> {
    const now = Date.now();
    for (const name of this.#budgeted) yield [name, this.#limiter.budgetLeft(name, now) ?? 0];
  }

  reconfigure(keys: readonly TenantKey[]): void {
    this.#limiter.reconfigure(keys);
    this.#budgeted = budgetedNames(keys);
  }

  async close(): Promise<void> {}
}

export function budgetedNames(keys: readonly TenantKey[]): string[] {
  return keys.filter((key) => key.limits.budget !== null).map((key) => key.name);
}
