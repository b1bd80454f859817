import { Counter, Gauge, type Registry } from 'prom-client';

/**
 * Per-key metrics (the `key` label is a key's configured name, so the config file bounds the series).
 * The counters live in every worker and are summed by the primary; the budget gauge and the store errors
 * live in the primary only, which holds the limits.
 */
export interface TenantWorkerMetrics {
  readonly requests: Counter<'key' | 'status'>;
  readonly tokens: Counter<'key' | 'kind'>;
  readonly rejected: Counter<'key' | 'limit'>;
}

export interface TenantPrimaryMetrics {
  readonly budgetRemaining: Gauge<'key'>;
  readonly budgetTokens: Gauge<'key'>;
  readonly storeErrors: Counter;
}

/** `collect` brings the deferred counts up to date before the registry is read. */
export function createTenantWorkerMetrics(registry: Registry, collect: () => void): TenantWorkerMetrics {
  const registers = [registry];
  return {
    requests: new Counter({
      name: 'tenant_requests_total',
      help: 'Requests that presented a named key (or an --api-key key, as key="api-key"), counted when the response ends, by status (429: a rate limit or the budget, 403: a model or route the key may not use).',
      labelNames: ['key', 'status'],
      registers,
      collect,
    }),
    tokens: new Counter({
      name: 'tenant_tokens_total',
      help: 'Tokens of completion requests by key, as the backend reported them (completion tokens of a stream without usage: its content events).',
      labelNames: ['key', 'kind'],
      registers,
      collect,
    }),
    rejected: new Counter({
      name: 'ratelimit_rejected_total',
      help: 'Requests refused for a key limit: rpm, tpm, parallel (max_parallel) and budget answer 429, model (a model the key may not use) 403.',
      labelNames: ['key', 'limit'],
      registers,
      collect,
    }),
  };
}

/** `budgetLeft`: tokens left per budgeted key; `budgetTotals`: each budgeted key's budget per period, as configured. */
export function createTenantPrimaryMetrics(
  registry: Registry,
  budgetLeft: () => Iterable<[string, number]>,
  budgetTotals: () => Iterable<[string, number]> = () => [],
): TenantPrimaryMetrics {
  const registers = [registry];
  const budgetRemaining: Gauge<'key'> = new Gauge({
    name: 'tenant_budget_remaining_tokens',
    help: "Tokens left in a key's budget for its current period (day, month or configured window, UTC), as this instance knows it (with Redis: the shared count at the last lease).",
    labelNames: ['key'],
    registers,
    collect() {
      budgetRemaining.reset();
      for (const [key, left] of budgetLeft()) budgetRemaining.labels(key).set(left);
    },
  });
  const budgetTokens: Gauge<'key'> = new Gauge({
    name: 'tenant_budget_tokens',
    help: "A key's token budget per period as configured: tenant_budget_remaining_tokens / tenant_budget_tokens is the share left (TenantBudgetLow).",
    labelNames: ['key'],
    registers,
    collect() {
      budgetTokens.reset();
      for (const [key, tokens] of budgetTotals()) budgetTokens.labels(key).set(tokens);
    },
  });
  return {
    budgetRemaining,
    budgetTokens,
    storeErrors: new Counter({
      name: 'ratelimit_store_errors_total',
      help: "Leases of a key's limits that needed the shared store (Redis) and could not have it (error, timeout, disconnected): each was taken from this instance's own limits instead (--redis-failure open) or its request answered 503 (closed).",
      registers,
    }),
  };
}
