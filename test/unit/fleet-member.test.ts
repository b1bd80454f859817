import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BackendConfig } from '../../src/config/types.js';
import type { HealthResult } from '../../src/metrics/fleet-metrics.js';
import { FleetMember } from '../../src/primary/fleet-member.js';

const SOURCE: BackendConfig = { url: 'http://gpu1:8000', origin: 'http://gpu1:8000', basePath: '', weight: 2, models: null };
const WHERE = { url: SOURCE.url, origin: SOURCE.origin, host: 'gpu1:8000' };
const check = (result: HealthResult, atMs: number) => ({ atMs, result, latencyMs: 3 });

test('down after the unhealthy threshold of failures in a row, up after the healthy threshold of successes', () => {
  const member = new FleetMember(SOURCE, WHERE, 0, false);
  assert.equal(member.up, true);
  assert.equal(member.checked(check('timeout', 1), 2, 3), null);
  assert.equal(member.checked(check('ok', 2), 2, 3), null, 'a success resets the failure streak');
  assert.equal(member.checked(check('http_error', 3), 2, 3), null);
  assert.equal(member.checked(check('unreachable', 4), 2, 3), 'down');
  assert.equal(member.up, false);
  assert.equal(member.checked(check('ok', 5), 2, 3), null);
  assert.equal(member.checked(check('ok', 6), 2, 3), null);
  assert.equal(member.checked(check('timeout', 7), 2, 3), null, 'a failure resets the success streak');
  for (const at of [8, 9]) assert.equal(member.checked(check('ok', at), 2, 3), null);
  assert.equal(member.checked(check('ok', 10), 2, 3), 'up');
  assert.equal(member.upSinceMs, 10, 'slow start counts from the check that brought it back');
  assert.deepEqual(member.lastCheck, check('ok', 10));
});

test('an ejection lasts the fail timeout, doubles for a repeat within a minute, and is capped at a minute', () => {
  const member = new FleetMember(SOURCE, WHERE, 0, false);
  assert.equal(member.eject(1_000, 5_000), true);
  assert.equal(member.ejectedUntilMs, 6_000);
  assert.equal(member.isUp(5_999), false);
  assert.equal(member.isUp(6_000), true);
  assert.equal(member.upSinceMs, 6_000, 'it ramps up again from the end of the ejection');
  assert.equal(member.eject(3_000, 5_000), false, 'already out: other workers reporting the same failures change nothing');
  assert.equal(member.eject(10_000, 5_000), true);
  assert.equal(member.ejectedUntilMs, 20_000, 'a repeat within a minute: twice as long');
  let at = 20_000;
  for (const expected of [20_000, 40_000, 60_000, 60_000]) {
    at += 1;
    member.eject(at, 5_000);
    assert.equal(member.ejectedUntilMs - at, expected);
    at = member.ejectedUntilMs;
  }
  at += 60_001;
  member.eject(at, 5_000);
  assert.equal(member.ejectedUntilMs - at, 5_000, 'more than a minute after the last one: back to the base');
});

test('a hold only ever extends', () => {
  const member = new FleetMember(SOURCE, WHERE, 0, false);
  assert.equal(member.hold(1_000, 2_000), true);
  assert.equal(member.heldUntilMs, 3_000);
  assert.equal(member.hold(1_500, 1_000), false);
  assert.equal(member.heldUntilMs, 3_000);
  assert.equal(member.isUp(2_000), true, 'held is not down');
});

test('models: configured ones win; discovered ones otherwise; unknown until read', () => {
  const member = new FleetMember(SOURCE, WHERE, 0, false);
  assert.equal(member.models, null);
  member.discovered = [{ id: 'a' }, { id: 'b' }];
  assert.deepEqual(member.models, ['a', 'b']);
  member.source = { ...SOURCE, models: ['c'] };
  assert.deepEqual(member.models, ['c']);
});

test('a member that joins late ramps up from when it joined; one there from the start does not', () => {
  assert.equal(new FleetMember(SOURCE, WHERE, 5_000, true).upSinceMs, 5_000);
  assert.equal(new FleetMember(SOURCE, WHERE, 5_000, false).upSinceMs, 0);
  const state = new FleetMember(SOURCE, WHERE, 0, false).toState();
  assert.deepEqual(state, {
    url: 'http://gpu1:8000',
    origin: 'http://gpu1:8000',
    basePath: '',
    host: 'gpu1:8000',
    weight: 2,
    models: null,
    up: true,
    ejectedUntilMs: 0,
    heldUntilMs: 0,
    upSinceMs: 0,
    lastCheck: null,
  });
});
