import assert from 'node:assert/strict';
import { test } from 'node:test';
import { periodEnd, periodOf } from '../../src/tenants/budget-period.js';
import { gcraAdjust, gcraTake, gcraView } from '../../src/tenants/gcra.js';
import { LocalLimiter } from '../../src/tenants/local-limiter.js';
import type { TenantKey, TenantLimits } from '../../src/tenants/tenant-types.js';
import { durationText } from '../../src/tenants/verdict.js';

const NONE: TenantLimits = { requests: null, tokens: null, parallel: null, budget: null };
const key = (name: string, limits: Partial<TenantLimits>): TenantKey => ({
  name,
  digest: name.padEnd(64, '0'),
  models: null,
  admin: false,
  limits: { ...NONE, ...limits },
  priority: 'standard',
  weight: 1,
});

test('GCRA: the whole limit at once, then it refills evenly; refunds never go past full', () => {
  const rate = { amount: 10, perMs: 1000 };
  let tat = 0;
  for (let i = 0; i < 10; i++) {
    const take = gcraTake(tat, 5000, rate, 1);
    assert.equal(take.ok, true);
    if (take.ok) tat = take.tat;
  }
  assert.deepEqual(gcraTake(tat, 5000, rate, 1), { ok: false, retryMs: 100 });
  assert.deepEqual(gcraView(tat, 5000, rate), { limit: 10, remaining: 0, resetMs: 1000 });
  assert.deepEqual(gcraView(tat, 5250, rate), { limit: 10, remaining: 2, resetMs: 750 });
  assert.equal(gcraTake(tat, 5000, rate, 11).ok, false);
  assert.deepEqual(gcraTake(0, 5000, rate, 11), { ok: false, retryMs: null });
  // A refund of 4 frees 4 now; a refund larger than what is held stops at full.
  assert.deepEqual(gcraView(gcraAdjust(tat, 5000, rate, -4), 5000, rate), { limit: 10, remaining: 4, resetMs: 600 });
  assert.deepEqual(gcraView(gcraAdjust(tat, 5000, rate, -40), 5000, rate), { limit: 10, remaining: 10, resetMs: 0 });
  // A charge beyond the estimate puts the key in debt: nothing left until it is paid back.
  assert.deepEqual(gcraView(gcraAdjust(tat, 5000, rate, 5), 5000, rate), { limit: 10, remaining: 0, resetMs: 1500 });
});

test('budget periods turn at UTC day and month boundaries, and at epoch multiples of a duration', () => {
  const now = Date.UTC(2026, 11, 31, 23, 59, 59, 500);
  assert.equal(periodEnd({ tokens: 1, period: 'day' }, now), Date.UTC(2027, 0, 1));
  assert.equal(periodEnd({ tokens: 1, period: 'month' }, now), Date.UTC(2027, 0, 1));
  assert.equal(periodEnd({ tokens: 1, period: 'month' }, Date.UTC(2026, 1, 3)), Date.UTC(2026, 2, 1));
  assert.notEqual(periodOf({ tokens: 1, period: 'month' }, now), periodOf({ tokens: 1, period: 'month' }, now + 500));
  assert.equal(periodOf({ tokens: 1, period: 'month' }, now - 86_400_000 * 20), periodOf({ tokens: 1, period: 'month' }, now));
  assert.equal(periodEnd({ tokens: 1, period: 10_000 }, 123_456), 130_000);
});

test('reset durations are written as OpenAI writes them', () => {
  assert.deepEqual([0, 20.2, 999, 1000, 1500, 59_999, 60_000, 360_000, 3_723_000].map(durationText), [
    '0ms',
    '21ms',
    '999ms',
    '1s',
    '1.5s',
    '59.999s',
    '1m0s',
    '6m0s',
    '1h2m3s',
  ]);
});

test('a request is admitted only when every limit allows it, and takes from none when one refuses', () => {
  const limiter = new LocalLimiter([
    key('t', { requests: { amount: 3, perMs: 60_000 }, tokens: { amount: 100, perMs: 60_000 }, parallel: 2 }),
  ]);
  const first = limiter.admit('t', 60, 1000);
  assert.equal(first.ok, true);
  assert.deepEqual(first.view, {
    requests: { limit: 3, remaining: 2, resetMs: 20_000 },
    tokens: { limit: 100, remaining: 40, resetMs: 36_000 },
    budgetLeft: null,
  });
  const tooMany = limiter.admit('t', 60, 1000);
  assert.equal(tooMany.ok, false);
  if (!tooMany.ok) {
    assert.equal(tooMany.limit, 'tpm');
    assert.equal(tooMany.retryAfterMs, 12_000);
    assert.match(tooMany.message, /rate limit reached for tokens \(100 per 1m0s; this request needs 60\)/);
  }
  // The refusal took nothing: the request count is as the first admission left it.
  assert.equal(limiter.admit('t', 10, 1000).view.requests?.remaining, 1);
  const third = limiter.admit('t', 10, 1000);
  assert.equal(third.ok, false);
  if (!third.ok) assert.equal(third.limit, 'parallel');
  // The first settles at 20 real tokens: 40 are refunded, and a parallel slot frees.
  if (first.ok) limiter.settle(first.ticket, 20, 1000);
  const fourth = limiter.admit('t', 50, 1000);
  assert.equal(fourth.ok, true);
  assert.equal(fourth.view.requests?.remaining, 0);
  if (fourth.ok) limiter.settle(fourth.ticket, 50, 1000);
  const fifth = limiter.admit('t', 1, 1000);
  assert.equal(fifth.ok, false);
  if (!fifth.ok) assert.equal(fifth.limit, 'rpm');
});

test('a budget refuses what does not fit, renews with its period and survives new limits', () => {
  const budget = { tokens: 1000, period: 10_000 } as const;
  const limiter = new LocalLimiter([key('t', { budget })]);
  const a = limiter.admit('t', 600, 1000);
  assert.equal(a.ok, true);
  const b = limiter.admit('t', 600, 1000);
  assert.equal(b.ok, false);
  if (!b.ok) {
    assert.equal(b.limit, 'budget');
    assert.equal(b.retryAfterMs, 9000);
    assert.equal(b.view.budgetLeft, 400);
  }
  if (a.ok) limiter.settle(a.ticket, 700, 2000);
  assert.equal(limiter.budgetLeft('t', 2000), 300);
  limiter.reconfigure([key('t', { budget: { tokens: 2000, period: 10_000 } }), key('u', {})]);
  assert.equal(limiter.budgetLeft('t', 2000), 1300);
  assert.equal(limiter.budgetLeft('t', 10_000), 2000);
  const never = limiter.admit('t', 2001, 10_000);
  assert.equal(never.ok, false);
  if (!never.ok) assert.equal(never.retryAfterMs, null);
  assert.equal(limiter.admit('u', 5, 0).ok, true);
  limiter.reconfigure([]);
  assert.equal(limiter.budgetLeft('t', 2000), null);
});

test('leases: a chunk beyond the need only while more than half the limit is free, then exactly the need', () => {
  const limiter = new LocalLimiter([key('t', { requests: { amount: 100, perMs: 3_600_000 }, parallel: 4 })]);
  const ask = (requests: number, extra: number, slots = 0) => ({
    need: { requests, tokens: 0, budget: 0, slots },
    want: { requests: requests + extra, tokens: 0, budget: 0, slots },
  });
  const granted: number[] = [];
  for (let i = 0; i < 12; i++) {
    const lease = limiter.lease('t', ask(1, 5), 0);
    assert.equal(lease.ok, true);
    if (lease.ok) granted.push(lease.granted.requests);
  }
  // 6 at a time while more than 50 stay free after the need: 8 leases (48), then 1 + 1 (the 50th), then 1 each.
  assert.deepEqual(granted, [6, 6, 6, 6, 6, 6, 6, 6, 2, 1, 1, 1]);
  // Units given back (unspent) are free again at once.
  limiter.give('t', { requests: 10, tokens: 0, budget: 0, slots: 0 }, null, 0);
  const after = limiter.lease('t', ask(1, 5), 0);
  // 43 held now, so a chunk again: 6 more, 51 left.
  assert.equal(after.ok && after.view.requests?.remaining, 100 - 53 + 10 - 6);
  // Slots: half of max_parallel is the floor too; a worker that gives its slots back frees them.
  const slots = limiter.lease(
    't',
    { need: { requests: 0, tokens: 0, budget: 0, slots: 1 }, want: { requests: 0, tokens: 0, budget: 0, slots: 3 } },
    0,
  );
  // 4 slots, floor 2: the need (1) and 1 more, not the 2 more asked for.
  assert.equal(slots.ok && slots.granted.slots, 2);
});
