import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { createDashboardHistory, type DashboardSample, HISTORY_POINTS } from '../../src/dashboard/dashboard-history.js';
import { type DashboardHistory, QUANTILE_WINDOW_MS } from '../../src/dashboard/dashboard-series.js';
import { eventually } from '../../support/wait.js';

const URL_A = 'http://a:8000';
/** Long enough for dozens of 1 ms intervals to pass, had the timer kept running. */
const QUIET_MS = 100;

/** The families the history reads, with a stamp of their own per count (the aggregator's versions). */
function metricsWith(requestsIn: number): DashboardSample {
  return {
    text: `in_flight_requests{url="${URL_A}"} 0\ninput_requests_total{url="${URL_A}",endpoint="/v1/models"} ${requestsIn}\n`,
    stamp: String(requestsIn),
  };
}

/** A read that answers from `answers` in turn and then never again (like a merge stuck on a worker). */
function scriptedRead(answers: Array<DashboardSample | null>): { read: () => Promise<DashboardSample | null>; reads: () => number } {
  let reads = 0;
  return {
    read: () => {
      reads++;
      return reads <= answers.length ? Promise.resolve(answers[reads - 1] ?? null) : new Promise<never>(() => {});
    },
    reads: () => reads,
  };
}

test('the history keeps the last HISTORY_POINTS points, one per sample, and the readings of one quantile window', async (t) => {
  let reads = 0;
  // Each sample reads 1,000 ms after the one before and finds one more request.
  const history = createDashboardHistory(
    async () => metricsWith(++reads),
    1,
    () => reads * 1_000,
  );
  t.after(() => history.close());
  history.start();
  await eventually(
    'more samples than the ring holds',
    () => reads,
    (n) => n >= HISTORY_POINTS + 10,
  );
  history.close();
  const closedAt = reads;
  const body = JSON.parse(history.json()) as DashboardHistory;
  assert.equal(body.points.length, HISTORY_POINTS);
  assert.equal(body.now, closedAt * 1_000);
  assert.deepEqual(
    body.points.map((p) => p.t),
    Array.from({ length: HISTORY_POINTS }, (_, i) => (closedAt - HISTORY_POINTS + 1 + i) * 1_000),
  );
  for (const point of body.points) {
    assert.equal(point.seconds, 1);
    assert.equal(point.backends[URL_A]?.requestsIn, 1);
  }
  // The readings of one quantile window (30 s of 1 s samples, and the one at its start), the newest last.
  const windowSamples = QUANTILE_WINDOW_MS / 1_000;
  assert.deepEqual(
    body.readings.map((r) => [r.t, r.backends[URL_A]?.requestsIn]),
    Array.from({ length: windowSamples + 1 }, (_, i) => {
      const sample = closedAt - windowSamples + i;
      return [sample * 1_000, sample];
    }),
  );
  await delay(QUIET_MS);
  assert.equal(reads, closedAt, 'no sample after close()');
});

test('a failed merge adds no point, and a slow one is not stacked upon', async (t) => {
  const script = scriptedRead([metricsWith(5), null, metricsWith(9)]);
  const history = createDashboardHistory(script.read, 1, () => script.reads() * 1_000);
  t.after(() => history.close());
  history.start();
  // The fourth read never answers: every later tick finds it still running.
  await eventually('the fourth read', script.reads, (n) => n === 4);
  await delay(QUIET_MS);
  assert.equal(script.reads(), 4);
  const body = JSON.parse(history.json()) as DashboardHistory;
  assert.deepEqual(
    body.points.map((p) => [p.t, p.seconds, p.backends[URL_A]?.requestsIn]),
    [
      [1_000, 0, null],
      [3_000, 2, 4],
    ],
  );
});

test('while the stamp stays the same the last reading stands at the new time, and the text is not read again', async (t) => {
  // The second and third answers carry the first one's stamp and a text that is not metrics at all.
  const same = { text: 'not the exposition\n', stamp: '5' };
  const script = scriptedRead([metricsWith(5), same, same, metricsWith(7)]);
  const history = createDashboardHistory(script.read, 1, () => script.reads() * 1_000);
  t.after(() => history.close());
  history.start();
  await eventually('the fifth read', script.reads, (n) => n === 5);
  history.close();
  const body = JSON.parse(history.json()) as DashboardHistory;
  assert.deepEqual(
    body.points.map((p) => [p.t, p.seconds, p.backends[URL_A]?.requestsIn]),
    [
      [1_000, 0, null],
      [2_000, 1, 0],
      [3_000, 1, 0],
      [4_000, 1, 2],
    ],
  );
});
