import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BackendConfig } from '../../src/config/types.js';
import { FleetMember } from '../../src/primary/fleet-member.js';
import { HEALTHY } from '../../src/shared/backend-state.js';

const SOURCE: BackendConfig = {
  url: 'http://gpu1:8000',
  origin: 'http://gpu1:8000',
  basePath: '',
  weight: 2,
  models: null,
  maxConcurrency: null,
};
const WHERE = { url: SOURCE.url, origin: SOURCE.origin, host: 'gpu1:8000' };

test('a probe result goes into the health state and is kept as the last check', () => {
  const member = new FleetMember(SOURCE, WHERE, 0, false);
  assert.equal(member.checked({ atMs: 1, result: 'timeout', latencyMs: 3 }, 1, 1), 'down');
  assert.equal(member.state.up, false);
  assert.deepEqual(member.lastCheck, { atMs: 1, result: 'timeout', latencyMs: 3 });
  assert.equal(member.checked({ atMs: 2, result: 'ok', latencyMs: 2 }, 1, 1), 'up');
  assert.equal(member.state.upSinceMs, 2, 'slow start counts from the check that brought it back');
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
  assert.equal(new FleetMember(SOURCE, WHERE, 5_000, true).state.upSinceMs, 5_000);
  assert.equal(new FleetMember(SOURCE, WHERE, 5_000, false).state.upSinceMs, 0);
  const state = new FleetMember(SOURCE, WHERE, 0, false).toState();
  assert.deepEqual(state, {
    url: 'http://gpu1:8000',
    origin: 'http://gpu1:8000',
    basePath: '',
    host: 'gpu1:8000',
    weight: 2,
    maxConcurrency: null,
    models: null,
    health: HEALTHY,
    lastCheck: null,
  });
});
