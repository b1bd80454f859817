import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BackendState, HEALTHY, type HealthFlags, statusOf } from '../../src/shared/backend-state.js';

const flags = (fields: Partial<HealthFlags>): HealthFlags => ({ ...HEALTHY, ...fields });

test('down after the unhealthy threshold of failed checks in a row, up after the healthy threshold of passed ones', () => {
  const state = new BackendState();
  assert.equal(state.up, true);
  assert.equal(state.checked(false, 1, 2, 3), null);
  assert.equal(state.checked(true, 2, 2, 3), null, 'a success resets the failure streak');
  assert.equal(state.checked(false, 3, 2, 3), null);
  assert.equal(state.checked(false, 4, 2, 3), 'down');
  assert.equal(state.statusAt(4), 'down');
  assert.equal(state.checked(true, 5, 2, 3), null);
  assert.equal(state.checked(true, 6, 2, 3), null);
  assert.equal(state.checked(false, 7, 2, 3), null, 'a failure resets the success streak');
  for (const at of [8, 9]) assert.equal(state.checked(true, at, 2, 3), null);
  assert.equal(state.checked(true, 10, 2, 3), 'up');
  assert.equal(state.upSinceMs, 10, 'slow start counts from the check that brought it back');
});

test('an ejection lasts the fail timeout, doubles for a repeat within a minute, and is capped at a minute', () => {
  const state = new BackendState();
  assert.equal(state.eject(1_000, 5_000), true);
  assert.equal(state.ejectedUntilMs, 6_000);
  assert.equal(state.ejectionMs, 5_000);
  assert.equal(state.isUp(5_999), false);
  assert.equal(state.statusAt(5_999), 'ejected');
  assert.equal(state.isUp(6_000), true);
  assert.equal(state.eject(3_000, 5_000), false, 'already out: other workers reporting the same failures change nothing');
  assert.equal(state.eject(10_000, 5_000), true);
  assert.equal(state.ejectedUntilMs, 20_000, 'a repeat within a minute: twice as long');
  let at = 20_000;
  for (const expected of [20_000, 40_000, 60_000, 60_000]) {
    at += 1;
    state.eject(at, 5_000);
    assert.equal(state.ejectedUntilMs - at, expected);
    at = state.ejectedUntilMs;
  }
  at += 60_001;
  state.eject(at, 5_000);
  assert.equal(state.ejectedUntilMs - at, 5_000, 'more than a minute after the last one: back to the base');
});

test('a hold only ever extends, and a held backend is up', () => {
  const state = new BackendState();
  assert.equal(state.hold(1_000, 2_000), true);
  assert.equal(state.heldUntilMs, 3_000);
  assert.equal(state.hold(1_500, 1_000), false);
  assert.equal(state.heldUntilMs, 3_000);
  assert.equal(state.isUp(2_000), true, 'held is not down');
  assert.equal(state.isHeld(2_000), true);
  assert.equal(state.statusAt(2_000), 'held');
  assert.equal(state.statusAt(3_000), 'up');
});

test('the status: down by the checks wins over an ejection, which wins over a hold', () => {
  assert.equal(statusOf(HEALTHY, 0), 'up');
  assert.equal(statusOf(flags({ up: false, ejectedUntilMs: 10, heldUntilMs: 10 }), 5), 'down');
  assert.equal(statusOf(flags({ ejectedUntilMs: 10, heldUntilMs: 10 }), 5), 'ejected');
  assert.equal(statusOf(flags({ heldUntilMs: 10 }), 5), 'held');
  assert.equal(statusOf(flags({ ejectedUntilMs: 10, heldUntilMs: 10 }), 10), 'up', 'both deadlines are exclusive');
});

test('the one merge rule: the checks are the other view’s, and the later ejection, hold and return stand', () => {
  const worker = new BackendState();
  // The worker's own immediate verdicts, before the primary has heard of them.
  worker.eject(1_000, 5_000);
  worker.hold(1_000, 30_000);
  worker.merge(flags({ up: true, ejectedUntilMs: 0, heldUntilMs: 2_000 }));
  assert.equal(worker.ejectedUntilMs, 6_000, 'an older view does not undo its own ejection');
  assert.equal(worker.heldUntilMs, 31_000, 'nor its own hold');
  // The primary doubled the ejection: its longer one replaces the worker's, length included.
  worker.merge(flags({ ejectedUntilMs: 11_000, ejectionMs: 10_000, upSinceMs: 500 }));
  assert.equal(worker.ejectedUntilMs, 11_000);
  assert.equal(worker.ejectionMs, 10_000);
  assert.equal(worker.upSinceMs, 500);
  worker.merge(flags({ up: false }));
  assert.equal(worker.statusAt(12_000), 'down', 'only the primary probes: its verdict stands');
  worker.merge(flags({ up: true, upSinceMs: 100 }));
  assert.equal(worker.upSinceMs, 500, 'a return is not moved back');
  assert.deepEqual(worker.flags(), { up: true, ejectedUntilMs: 11_000, ejectionMs: 10_000, heldUntilMs: 31_000, upSinceMs: 500 });
  // The merged state ejects again by the same doubling rule as the primary.
  assert.equal(worker.eject(12_000, 5_000), true);
  assert.equal(worker.ejectionMs, 20_000);
});

test('slow start ramps from a tenth of the weight after a return; a backend that is out keeps its whole weight', () => {
  const joined = new BackendState(1_000);
  assert.equal(joined.effectiveWeight(4, 10_000, 1_000), 0.4, 'the floor at first');
  assert.equal(joined.effectiveWeight(4, 10_000, 6_000), 2);
  assert.equal(joined.effectiveWeight(4, 10_000, 11_000), 4);
  assert.equal(joined.effectiveWeight(4, 0, 1_000), 4, '--slow-start 0: at once');
  assert.equal(new BackendState().effectiveWeight(4, 10_000, 1_000), 4, 'there from the start: no ramp');
  const ejected = new BackendState();
  ejected.eject(1_000, 5_000);
  // While out it ranks as itself: the keys whose home it is stay its own (and count as unavailable).
  assert.equal(ejected.effectiveWeight(4, 10_000, 3_000), 4);
  assert.equal(ejected.effectiveWeight(4, 10_000, 6_000), 0.4, 'back: it ramps up from its return');
  assert.equal(ejected.effectiveWeight(4, 10_000, 11_000), 2);
  assert.equal(ejected.effectiveWeight(4, 10_000, 16_000), 4);
});
