import type { Units } from './allowance.js';
import type { RateView } from './gcra.js';
import type { LimitName } from './tenant-types.js';

/** What a response tells the client about its key's limits (OpenAI's x-ratelimit-* headers). */
export interface LimitsView {
  readonly requests: RateView | null;
  readonly tokens: RateView | null;
  /** Tokens left in the budget's period; null without a budget. */
  readonly budgetLeft: number | null;
}

/** An admitted request's hold on its key's limits, settled when it ends. */
export interface Ticket {
  readonly tenant: string;
  /** Tokens reserved (rate and budget). */
  readonly tokens: number;
  /** The budget period the reservation was charged to; null without a budget. */
  readonly period: number | null;
  /** Holds one of max_parallel. */
  readonly parallel: boolean;
}

export type Verdict = { readonly ok: true; readonly view: LimitsView; readonly ticket: Ticket } | Refused;

/** A refusal: the limit, when the request would fit (null: never, it asks more than the limit), the view and a message. */
interface Refused {
  readonly ok: false;
  readonly limit: Exclude<LimitName, 'model'>;
  readonly retryAfterMs: number | null;
  readonly view: LimitsView;
  readonly message: string;
}

/** A source's answer to a lease: the units granted (and the budget period they belong to), or a refusal. */
export type LeaseVerdict =
  | { readonly ok: true; readonly granted: Units; readonly period: number | null; readonly view: LimitsView }
  | Refused;

export const NO_VIEW: LimitsView = Object.freeze({ requests: null, tokens: null, budgetLeft: null });

/** `6000 per 1m`, `10 per 10s`. */
export function perText(amount: number, perMs: number): string {
  return `${amount} per ${durationText(perMs)}`;
}

/**
 * A duration as OpenAI writes x-ratelimit-reset-*: `20ms`, `1.5s`, `6m0s`, `2h0m0s` (Go's time.Duration
 * style, to the millisecond).
 */
export function durationText(ms: number): string {
  const whole = Math.max(0, Math.ceil(ms));
  if (whole < 1000) return `${whole}ms`;
  const hours = Math.floor(whole / 3_600_000);
  const minutes = Math.floor((whole % 3_600_000) / 60_000);
  const seconds = (whole % 60_000) / 1000;
  const s = `${Number.isInteger(seconds) ? seconds : seconds.toFixed(3).replace(/0+$/, '')}s`;
  if (hours > 0) return `${hours}h${minutes}m${s}`;
  if (minutes > 0) return `${minutes}m${s}`;
  return s;
}
