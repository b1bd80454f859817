/**
 * GCRA (the generic cell rate algorithm, ITU-T I.371) over one rate of `amount` units per `perMs`: the
 * whole state is one number, the theoretical arrival time (TAT, ms). Each unit moves it `perMs / amount`
 * later; a take is allowed while the TAT stays within `perMs` of now. So a key can spend its whole
 * limit at once and it refills evenly over the window, as a token bucket of that size would; the TAT also
 * gives exact headers (what is left, when it is full again, when a refused request would fit). It suits
 * reserve-then-settle: settling moves the TAT back (a refund) or further on (usage above the estimate).
 * The Redis script (redis-scripts.ts) does the same arithmetic in Lua.
 */
import type { Rate } from './tenant-types.js';

/** Floating-point slack: a rate such as 7 per minute has an emission interval that is not a whole number. */
const EPSILON_MS = 1e-6;

export interface RateView {
  readonly limit: number;
  readonly remaining: number;
  /** Until the limit is whole again, ms. */
  readonly resetMs: number;
}

export type Take = { readonly ok: true; readonly tat: number } | { readonly ok: false; readonly retryMs: number | null };

/** Takes `cost` units at `now`; refused with the wait until they would fit, or null when they never can. */
export function gcraTake(tat: number, now: number, rate: Rate, cost: number): Take {
  const interval = rate.perMs / rate.amount;
  const next = Math.max(tat, now) + cost * interval;
  if (next - now <= rate.perMs + EPSILON_MS) return { ok: true, tat: next };
  return { ok: false, retryMs: cost > rate.amount ? null : next - rate.perMs - now };
}

/** Moves the TAT by `delta` units: positive charges (from now at the earliest), negative refunds (never past full). */
export function gcraAdjust(tat: number, now: number, rate: Rate, delta: number): number {
  const interval = rate.perMs / rate.amount;
  return delta >= 0 ? Math.max(tat, now) + delta * interval : Math.max(tat + delta * interval, now);
}

export function gcraView(tat: number, now: number, rate: Rate): RateView {
  const interval = rate.perMs / rate.amount;
  const behind = Math.max(tat, now) - now;
  const remaining = Math.floor((rate.perMs - behind + EPSILON_MS) / interval);
  return { limit: rate.amount, remaining: Math.min(rate.amount, Math.max(0, remaining)), resetMs: behind };
}
