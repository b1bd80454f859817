import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_HOLD_MS, retryAfterMs } from '../../src/worker/retry-after.js';
import { RetryBudget } from '../../src/worker/retry-budget.js';

test('the budget allows 10 retries per window, plus 20% of the requests', () => {
  let now = 0;
  const budget = new RetryBudget(() => now);
  let allowed = 0;
  while (budget.tryRetry()) allowed++;
  assert.equal(allowed, 10, 'the floor, with no request at all');
  for (let i = 0; i < 100; i++) budget.requested();
  while (budget.tryRetry()) allowed++;
  assert.equal(allowed, 30, '10 + 20% of 100');
  now += 5_000;
  assert.equal(budget.tryRetry(), false, 'still inside the 10 s window');
  now += 5_000;
  assert.equal(budget.tryRetry(), true, 'the window has slid past them');
});

test('the budget slides second by second', () => {
  let now = 0;
  const budget = new RetryBudget(() => now);
  for (let i = 0; i < 10; i++) {
    now = i * 1_000;
    assert.equal(budget.tryRetry(), true);
  }
  now = 9_500;
  assert.equal(budget.tryRetry(), false, 'ten retries in the last ten seconds');
  now = 10_000;
  assert.equal(budget.tryRetry(), true, 'the oldest one left the window');
  assert.equal(budget.tryRetry(), false);
});

test('Retry-After: seconds or an HTTP date, capped, ignored when unreadable or past', () => {
  const now = Date.parse('2026-11-30T10:00:00Z');
  assert.equal(retryAfterMs('3', now), 3_000);
  assert.equal(retryAfterMs([' 7 '], now), 7_000);
  assert.equal(retryAfterMs('3600', now), MAX_HOLD_MS);
  assert.equal(retryAfterMs('Mon, 30 Nov 2026 10:00:20 GMT', now), 20_000);
  assert.equal(retryAfterMs('Mon, 30 Nov 2026 09:59:00 GMT', now), null);
  for (const bad of [undefined, '', '0', '-1', '1.5', 'soon']) assert.equal(retryAfterMs(bad, now), null, String(bad));
});
