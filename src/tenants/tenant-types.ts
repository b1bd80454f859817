import type { PriorityClass } from '../admission/priority-class.js';

/** A rate: at most `amount` units per `perMs`, refilling evenly (see gcra.ts). */
export interface Rate {
  readonly amount: number;
  readonly perMs: number;
}

/** A token budget that resets at UTC boundaries: each day, each month, or every `perMs` from the epoch. */
export interface Budget {
  readonly tokens: number;
  readonly period: 'day' | 'month' | number;
}

/** A key's limits; each absent one does not apply. */
export interface TenantLimits {
  /** Requests (rpm). */
  readonly requests: Rate | null;
  /** Prompt plus completion tokens (tpm). */
  readonly tokens: Rate | null;
  /** Requests in progress at once. */
  readonly parallel: number | null;
  readonly budget: Budget | null;
}

/** One named key of the config file's `keys:` list, as the whole proxy sees it (never the key itself). */
export interface TenantKey {
  /** The tenant: the `key` label of the tenant metrics and the access log's `key` field. */
  readonly name: string;
  /** SHA-256 of the key, lower-case hex. */
  readonly digest: string;
  /** Model names and globs (`*`, `?`) it may use; null: every model. */
  readonly models: readonly string[] | null;
  /** May call the engines' admin routes (see admin-routes.ts). */
  readonly admin: boolean;
  readonly limits: TenantLimits;
  /** Its class in the admission queue (a request's x-priority may lower it, never raise it). */
  readonly priority: PriorityClass;
  /** Its share against the other keys of its class while their requests wait (1 to 1000). */
  readonly weight: number;
}

/** The limit a request was refused for: the `limit` label of ratelimit_rejected_total. */
export const LIMIT_NAMES = ['rpm', 'tpm', 'parallel', 'budget', 'model'] as const;
export type LimitName = (typeof LIMIT_NAMES)[number];

/** The tenant name of keys from --api-key and --api-key-file: keys without limits, all under one name. */
export const STATIC_KEY_NAME = 'api-key';

export function hasLimits(limits: TenantLimits): boolean {
  return limits.requests !== null || limits.tokens !== null || limits.parallel !== null || limits.budget !== null;
}
