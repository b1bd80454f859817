import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HistoryRing } from '../../src/dashboard/history-ring.js';

test('until it is full the ring holds everything pushed, oldest first', () => {
  const ring = new HistoryRing<number>(3);
  assert.deepEqual(ring.toArray(), []);
  ring.push(1);
  ring.push(2);
  assert.deepEqual(ring.toArray(), [1, 2]);
  assert.equal(ring.size, 2);
});

test('once full, each push drops the oldest and the size stays at the capacity', () => {
  const ring = new HistoryRing<number>(3);
  for (let i = 1; i <= 7; i++) ring.push(i);
  assert.deepEqual(ring.toArray(), [5, 6, 7]);
  assert.equal(ring.size, 3);
  ring.push(8);
  assert.deepEqual(ring.toArray(), [6, 7, 8]);
});

test('a ring of one keeps the latest item', () => {
  const ring = new HistoryRing<string>(1);
  ring.push('a');
  ring.push('b');
  assert.deepEqual(ring.toArray(), ['b']);
});

test('the capacity must be a positive integer', () => {
  assert.throws(() => new HistoryRing(0), { name: 'RangeError', message: 'capacity must be a positive integer, got 0' });
  assert.throws(() => new HistoryRing(2.5), { name: 'RangeError', message: 'capacity must be a positive integer, got 2.5' });
});
