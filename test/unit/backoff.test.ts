import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RESTART_BASE_DELAY_MS, RESTART_MAX_DELAY_MS, restartDelayMs } from '../../src/primary/backoff.js';

test('the first quick death restarts at once', () => {
  assert.equal(restartDelayMs(1), 0);
});

test('no failures, or nonsense counts, mean no delay', () => {
  assert.equal(restartDelayMs(0), 0);
  assert.equal(restartDelayMs(-1), 0);
  assert.equal(restartDelayMs(-1000), 0);
});

test('the delay doubles from the second failure: 400, 800, 1600 ms ...', () => {
  assert.equal(RESTART_BASE_DELAY_MS, 200);
  assert.equal(restartDelayMs(2), 400);
  assert.equal(restartDelayMs(3), 800);
  assert.equal(restartDelayMs(4), 1600);
  assert.equal(restartDelayMs(5), 3200);
  for (let failures = 2; failures < 8; failures++) {
    assert.equal(restartDelayMs(failures + 1), 2 * restartDelayMs(failures), `after ${failures}`);
  }
});

test('the delay is capped at RESTART_MAX_DELAY_MS', () => {
  assert.equal(RESTART_MAX_DELAY_MS, 30_000);
  assert.equal(restartDelayMs(8), 25_600);
  assert.equal(restartDelayMs(9), RESTART_MAX_DELAY_MS);
  assert.equal(restartDelayMs(100), RESTART_MAX_DELAY_MS);
  assert.equal(restartDelayMs(10_000), RESTART_MAX_DELAY_MS);
  assert.equal(restartDelayMs(Number.MAX_SAFE_INTEGER), RESTART_MAX_DELAY_MS);
});

test('the delay is never negative and never decreases', () => {
  let previous = -1;
  for (let failures = -5; failures <= 200; failures++) {
    const delay = restartDelayMs(failures);
    assert.ok(Number.isInteger(delay), `integer at ${failures}`);
    assert.ok(delay >= 0, `non-negative at ${failures}`);
    assert.ok(delay <= RESTART_MAX_DELAY_MS, `capped at ${failures}`);
    assert.ok(delay >= previous, `monotonic at ${failures}`);
    previous = delay;
  }
});
