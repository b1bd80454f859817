import type { Budget } from './tenant-types.js';

const DAY_MS = 86_400_000;

/** The budget period `now` falls in, as a number that changes at each UTC boundary. */
export function periodOf(budget: Budget, now: number): number {
  if (budget.period === 'day') return Math.floor(now / DAY_MS);
  if (budget.period === 'month') {
    const date = new Date(now);
    return date.getUTCFullYear() * 12 + date.getUTCMonth();
  }
  return Math.floor(now / budget.period);
}

/** When the period `now` falls in ends (the budget is whole again), ms since the epoch. */
export function periodEnd(budget: Budget, now: number): number {
  if (budget.period === 'day') return (Math.floor(now / DAY_MS) + 1) * DAY_MS;
  if (budget.period === 'month') {
    const date = new Date(now);
    return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
  }
  return (Math.floor(now / budget.period) + 1) * budget.period;
}
