import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RateWindow } from '../../src/metrics/rate-window.js';

/** A clock the test moves by hand; RateWindow reads it through its `now` parameter. */
function manualClock(startMs = 1_000_000): { now: () => number; set: (ms: number) => void; advance: (ms: number) => void } {
  let ms = startMs;
  return {
    now: () => ms,
    set: (value) => {
      ms = value;
    },
    advance: (delta) => {
      ms += delta;
    },
  };
}

test('a new window reads 0', () => {
  const clock = manualClock();
  assert.equal(new RateWindow(clock.now).perSecond(), 0);
});

test('50 events within one second read 5 per second', () => {
  const clock = manualClock();
  const window = new RateWindow(clock.now);
  for (let i = 0; i < 50; i++) {
    window.add();
    clock.advance(19);
  }
  assert.equal(window.perSecond(), 5);
  clock.advance(5000);
  assert.equal(window.perSecond(), 5);
});

test('events age out once the window has passed', () => {
  const clock = manualClock(0);
  const window = new RateWindow(clock.now);
  window.add(30);
  clock.set(9_999);
  assert.equal(window.perSecond(), 3);
  clock.set(10_000);
  assert.equal(window.perSecond(), 0);
});

test('events spread over 15 seconds age out one second at a time', () => {
  const clock = manualClock(0);
  const window = new RateWindow(clock.now);
  // i + 1 events in second i, for seconds 0..14.
  for (let second = 0; second < 15; second++) {
    clock.set(second * 1000 + 500);
    window.add(second + 1);
  }
  // Seconds 5..14 remain: 6 + 7 + ... + 15 = 105.
  assert.equal(window.perSecond(), 10.5);
  clock.set(15_000);
  assert.equal(window.perSecond(), (105 - 6) / 10);
  clock.set(20_000);
  // Seconds 11..14 remain: 12 + 13 + 14 + 15 = 54.
  assert.equal(window.perSecond(), 5.4);
  clock.set(23_999);
  assert.equal(window.perSecond(), 1.5);
  clock.set(24_000);
  assert.equal(window.perSecond(), 0);
});

test('a gap longer than the window clears everything', () => {
  const clock = manualClock();
  const window = new RateWindow(clock.now);
  for (let i = 0; i < 10; i++) {
    window.add(7);
    clock.advance(1000);
  }
  assert.equal(window.perSecond(), 6.3);
  clock.advance(3_600_000);
  assert.equal(window.perSecond(), 0);
  window.add();
  assert.equal(window.perSecond(), 0.1);
});

test('a gap of exactly the window length while adding keeps only the new event', () => {
  const clock = manualClock(0);
  const window = new RateWindow(clock.now);
  window.add(100);
  clock.set(10_000);
  window.add(2);
  assert.equal(window.perSecond(), 0.2);
});

test('add(count) adds that many events, add() one', () => {
  const clock = manualClock();
  const window = new RateWindow(clock.now);
  window.add(12);
  window.add();
  window.add(0);
  window.add(7);
  assert.equal(window.perSecond(), 2);
});

test('slots follow whole seconds of the clock, not the construction time', () => {
  const clock = manualClock(5_900);
  const window = new RateWindow(clock.now);
  window.add(10);
  // 5.9 s belongs to the slot starting at 5 s, which leaves the window at 15 s.
  clock.set(14_999);
  assert.equal(window.perSecond(), 1);
  clock.set(15_000);
  assert.equal(window.perSecond(), 0);
});

test('reading the rate does not change it', () => {
  const clock = manualClock();
  const window = new RateWindow(clock.now);
  window.add(20);
  for (let i = 0; i < 5; i++) assert.equal(window.perSecond(), 2);
});

test('a clock that steps backwards keeps counting into the current slot', () => {
  const clock = manualClock(50_000);
  const window = new RateWindow(clock.now);
  window.add(10);
  clock.set(40_000);
  window.add(10);
  assert.equal(window.perSecond(), 2);
});
