/**
 * The tenants table of /dashboard: one row per key, from the page's own polls of /metrics (two readings,
 * the oldest within the window and the newest). Pure and Node-free: the page inlines this module as built.
 */
import { type PromSamples, sumSamples } from '../metrics/prom-text.js';

/** Requests, token rate and rejections cover the last minute, as the backends table's do. */
export const TENANT_WINDOW_MS = 60_000;

/** One key in one scrape: cumulative counts, and its budget gauge (null without a budget). */
interface TenantReading {
  readonly requests: number;
  readonly tokens: number;
  readonly rejected: Readonly<Record<string, number>>;
  readonly budgetLeft: number | null;
}

export interface TenantsReading {
  readonly t: number;
  readonly keys: Readonly<Record<string, TenantReading>>;
}

export interface TenantRow {
  readonly key: string;
  /** In the window; null before two readings. */
  readonly requests: number | null;
  readonly tokensPerSecond: number | null;
  /** Rejections in the window by limit (rpm, tpm, parallel, budget, model): only the limits that refused. */
  readonly rejected: Readonly<Record<string, number>>;
  readonly budgetLeft: number | null;
}

/** Every key /metrics names (tenant_requests_total, tenant_tokens_total and ratelimit_rejected_total have one series per key from startup). */
export function readTenants(samples: PromSamples, t: number): TenantsReading {
  const keys: Record<string, TenantReading> = {};
  const names = new Set<string>();
  for (const metric of ['tenant_tokens_total', 'ratelimit_rejected_total', 'tenant_requests_total']) {
    for (const sample of samples.get(metric) ?? []) if (sample.labels.key !== undefined) names.add(sample.labels.key);
  }
  for (const key of names) {
    const rejected: Record<string, number> = {};
    for (const sample of samples.get('ratelimit_rejected_total') ?? []) {
      const limit = sample.labels.limit;
      if (sample.labels.key === key && limit !== undefined) rejected[limit] = (rejected[limit] ?? 0) + sample.value;
    }
    const budget = (samples.get('tenant_budget_remaining_tokens') ?? []).find((sample) => sample.labels.key === key);
    keys[key] = {
      requests: sumSamples(samples, 'tenant_requests_total', { key }),
      tokens: sumSamples(samples, 'tenant_tokens_total', { key }),
      rejected,
      budgetLeft: budget === undefined ? null : budget.value,
    };
  }
  return { t, keys };
}

/** Rows by key name, from the oldest reading of the window to the newest. */
export function tenantRows(readings: readonly TenantsReading[], windowMs = TENANT_WINDOW_MS): TenantRow[] {
  const newest = readings.at(-1);
  if (newest === undefined) return [];
  const oldest = readings.find((reading) => reading.t >= newest.t - windowMs && reading !== newest) ?? null;
  const seconds = oldest === null ? 0 : (newest.t - oldest.t) / 1000;
  return Object.keys(newest.keys)
    .sort()
    .map((key): TenantRow => {
      const now = newest.keys[key] as TenantReading;
      const before = oldest?.keys[key] ?? null;
      const rejected: Record<string, number> = {};
      for (const [limit, count] of Object.entries(now.rejected)) {
        const increase = count - (before?.rejected[limit] ?? 0);
        if (before !== null && increase > 0) rejected[limit] = increase;
      }
      return {
        key,
        requests: before === null ? null : Math.max(0, now.requests - before.requests),
        tokensPerSecond: before === null || seconds <= 0 ? null : Math.max(0, now.tokens - before.tokens) / seconds,
        rejected,
        budgetLeft: now.budgetLeft,
      };
    });
}

/** `tpm: 3, budget: 1`, most first; `-` when none. */
export function formatRejected(rejected: Readonly<Record<string, number>>): string {
  const seen = Object.entries(rejected);
  if (seen.length === 0) return '-';
  seen.sort(([a, m], [b, n]) => n - m || (a < b ? -1 : 1));
  return seen.map(([limit, n]) => `${limit}: ${n}`).join(', ');
}
