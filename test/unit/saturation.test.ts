import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type EngineView,
  estimatedWaiting,
  externalLoad,
  fleetLoad,
  isSaturated,
  learnedCapacity,
  roomOn,
} from '../../src/admission/saturation.js';

const DEFAULTS = { waiting: 5, kv: 0.8 };

function view(partial: Partial<EngineView>): EngineView {
  return { waiting: 0, running: 0, kvUsage: null, ownAtReading: 0, capacity: null, fresh: true, ...partial };
}

test('without a reading or a bound nothing is saturated, and the load is the proxy own', () => {
  assert.equal(roomOn(1_000, null, null, DEFAULTS), Number.POSITIVE_INFINITY);
  assert.equal(fleetLoad(7, null), 7);
});

test('the engine count where it exceeds the proxy own: the others are the engine requests that are not ours', () => {
  // A third client keeps 20 on the engine; we had 2 there at the reading and have 3 now.
  const v = view({ running: 8, waiting: 14, ownAtReading: 2 });
  assert.equal(externalLoad(v), 20);
  assert.equal(fleetLoad(3, v), 23);
  // A reading that lags behind our own sends never makes the load less than our own.
  assert.equal(fleetLoad(5, view({ running: 1, ownAtReading: 4 })), 5);
});

test('a queue in the engine: each request of ours since the reading waits, each that ended let one in', () => {
  const v = view({ running: 8, waiting: 3, ownAtReading: 6, capacity: 8 });
  assert.equal(estimatedWaiting(6, v), 3);
  assert.equal(estimatedWaiting(8, v), 5);
  assert.equal(estimatedWaiting(2, v), 0);
  assert.deepEqual([roomOn(6, v, null, DEFAULTS), roomOn(7, v, null, DEFAULTS), roomOn(8, v, null, DEFAULTS)], [2, 1, 0]);
  assert.equal(isSaturated(8, v, null, DEFAULTS), true, 'the queue reached 5');
  assert.equal(isSaturated(7, v, null, DEFAULTS), false);
});

test('no queue and a known capacity: the free slots, then --saturation-waiting more', () => {
  const v = view({ running: 5, waiting: 0, ownAtReading: 5, capacity: 8 });
  assert.equal(estimatedWaiting(9, v), 1);
  assert.equal(roomOn(5, v, null, DEFAULTS), 3 + 5);
  assert.equal(roomOn(5, v, null, { waiting: 0, kv: 0.8 }), 3, '0: only the free slots');
  assert.equal(isSaturated(8, v, null, { waiting: 0, kv: 0.8 }), true);
});

test('an engine never seen with a queue is taken to have room', () => {
  assert.equal(roomOn(50, view({ running: 4, ownAtReading: 4 }), null, DEFAULTS), Number.POSITIVE_INFINITY);
  assert.equal(estimatedWaiting(50, view({ running: 4, ownAtReading: 4 })), 0);
});

test('KV use at the limit saturates, below it does not; an engine without KV figures is judged on its queue', () => {
  assert.equal(isSaturated(0, view({ kvUsage: 0.8 }), null, DEFAULTS), true);
  assert.equal(isSaturated(0, view({ kvUsage: 0.79 }), null, DEFAULTS), false);
  assert.equal(isSaturated(0, view({ kvUsage: null, waiting: 5, running: 2, capacity: 2 }), null, DEFAULTS), true);
});

test('max_concurrency bounds the whole fleet load on the backend, the others included', () => {
  assert.equal(roomOn(6, null, 8, DEFAULTS), 2);
  assert.equal(roomOn(6, view({ running: 3, ownAtReading: 1 }), 8, DEFAULTS), 0, '6 ours + 2 others');
  assert.equal(roomOn(9, null, 8, DEFAULTS), 0);
  assert.equal(isSaturated(8, null, 8, DEFAULTS), true);
});

test('capacity: learned from a reading with a queue, never lowered by one caught between two scheduler steps', () => {
  assert.equal(learnedCapacity(null, 0, 5), null);
  assert.equal(learnedCapacity(null, 2, 8), 8);
  assert.equal(learnedCapacity(8, 1, 3), 8);
  assert.equal(learnedCapacity(8, 1, 12), 12);
  assert.equal(learnedCapacity(8, 0, 12), 8);
});

test('a stale reading keeps only the capacity: the proxy own counts bound the backend, nothing else', () => {
  const stale = view({ capacity: 8, fresh: false });
  assert.equal(fleetLoad(5, stale), 5);
  assert.equal(roomOn(5, stale, null, DEFAULTS), 8 + 5 - 5);
  assert.equal(roomOn(8, stale, null, { waiting: 0, kv: 0.8 }), 0);
});
