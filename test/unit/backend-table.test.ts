import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type BackendRow,
  backendRows,
  formatEngine,
  formatRetries,
  formatSeconds,
  formatShare,
  rowName,
  shortName,
  stateSummary,
  UNROUTED_NAME,
  UNROUTED_URL,
} from '../../src/dashboard/backend-table.js';
import { type BackendPoint, type DashboardPoint, pointBetween, readDashboard } from '../../src/dashboard/dashboard-series.js';
import { parsePromText } from '../../src/metrics/prom-text.js';

const A = 'http://a:8000';
const B = 'http://b:8000';
/** Configured, not yet in any point (just added by a reload). */
const C = 'http://c:8000';
/** In the points, no longer in the fleet (removed, its series in their grace period). */
const D = 'http://d:8000';

/** A backend's point from a first reading: in flight 0, every count and quantile null. */
const EMPTY = pointBetween(readDashboard(parsePromText('in_flight_requests{url="x"} 0'), 0), null, null).backends.x as BackendPoint;

function backend(fields: Partial<BackendPoint>): BackendPoint {
  return { ...EMPTY, ...fields };
}

function point(t: number, seconds: number, backends: Record<string, Partial<BackendPoint>>): DashboardPoint {
  return { t, seconds, backends: Object.fromEntries(Object.entries(backends).map(([url, fields]) => [url, backend(fields)])) };
}

const POINTS: DashboardPoint[] = [
  // Ends 70 s before the newest: out of the minute.
  point(-50_000, 10, { [A]: { requestsOut: 100, retries: { '503': 50 } } }),
  // A first reading: in-flight only.
  point(0, 0, { [A]: {}, [B]: {}, [UNROUTED_URL]: {} }),
  point(10_000, 10, {
    [A]: { requestsOut: 6, retries: { '503': 1 } },
    [B]: { requestsOut: 3 },
    [D]: { requestsOut: 2 },
    [UNROUTED_URL]: { requestsOut: 1 },
  }),
  point(20_000, 10, {
    [A]: { requestsOut: 4, retries: { '503': 2, connect: 1 }, inFlight: 2, ttftP50S: 0.3 },
    [B]: { requestsOut: 5, retries: { reset: 1 } },
    [UNROUTED_URL]: { requestsOut: 1, inFlight: 1 },
  }),
];
const STATES = [
  { url: B, state: 'ejected' },
  { url: A, state: 'up' },
  { url: C, state: 'down' },
];

test('one row per backend of /healthz and of the minute’s points, by url, the proxy’s own answers last', () => {
  const rows = backendRows(POINTS, STATES);
  const expected: BackendRow[] = [
    {
      url: A,
      state: 'up',
      inFlight: 2,
      answered: 10,
      perSecond: 0.5,
      share: 10 / 22,
      ttftP50S: 0.3,
      retries: { '503': 3, connect: 1 },
      engine: null,
      queue: null,
    },
    {
      url: B,
      state: 'ejected',
      inFlight: 0,
      answered: 8,
      perSecond: 0.4,
      share: 8 / 22,
      ttftP50S: null,
      retries: { reset: 1 },
      engine: null,
      queue: null,
    },
    { url: C, state: 'down', inFlight: null, answered: 0, perSecond: 0, share: 0, ttftP50S: null, retries: {}, engine: null, queue: null },
    // Gone from the newest point too: nothing in flight known.
    {
      url: D,
      state: 'removed',
      inFlight: null,
      answered: 2,
      perSecond: 0.1,
      share: 2 / 22,
      ttftP50S: null,
      retries: {},
      engine: null,
      queue: null,
    },
    {
      url: UNROUTED_URL,
      state: '-',
      inFlight: 1,
      answered: 2,
      perSecond: 0.1,
      share: 2 / 22,
      ttftP50S: null,
      retries: {},
      engine: null,
      queue: null,
    },
  ];
  assert.deepEqual(rows, expected);
  assert.equal(
    rows.reduce((sum, row) => sum + (row.share ?? 0), 0),
    1,
  );
});

test('before /healthz answers the state is unknown; before any response there is no share and no rate', () => {
  assert.deepEqual(backendRows([point(0, 0, { [A]: { inFlight: 1 } })], null), [
    { url: A, state: '?', inFlight: 1, answered: 0, perSecond: null, share: null, ttftP50S: null, retries: {}, engine: null, queue: null },
  ]);
  assert.deepEqual(backendRows([], [{ url: A, state: 'held' }]), [
    {
      url: A,
      state: 'held',
      inFlight: null,
      answered: 0,
      perSecond: null,
      share: null,
      ttftP50S: null,
      retries: {},
      engine: null,
      queue: null,
    },
  ]);
});

test('names and cells: the url label as it is, `none` spelled out, shares in whole percent, retries most first', () => {
  assert.equal(rowName(A), A);
  assert.equal(rowName(UNROUTED_URL), UNROUTED_NAME);
  assert.equal(shortName('https://gpu1.example:8443/v1'), 'gpu1.example:8443/v1');
  assert.equal(shortName(UNROUTED_URL), 'proxy (no backend)');
  assert.deepEqual([formatShare(10 / 22), formatShare(0), formatShare(1), formatShare(null)], ['45%', '0%', '100%', '-']);
  assert.deepEqual([formatSeconds(0.175), formatSeconds(null)], ['0.175 s', '-']);
  assert.equal(formatRetries({ connect: 1, '503': 3, reset: 1, '429': 0 }), '503: 3, connect: 1, reset: 1');
  assert.equal(formatRetries({ '502': 0 }), '-');
  assert.equal(stateSummary([...STATES, { url: D, state: 'up' }]), '1 ejected, 2 up, 1 down');
  assert.equal(stateSummary([]), 'none');
});

test('the engine column: its own gauges for a backend the proxy reads, the queue by class on the proxy row', () => {
  const engine = { waiting: 3, running: 8, kvUsage: 0.454, saturated: false };
  assert.equal(formatEngine({ engine, queue: null }), '3 waiting, 8 running, KV 45%');
  assert.equal(formatEngine({ engine: { ...engine, kvUsage: null, saturated: true }, queue: null }), '3 waiting, 8 running, saturated');
  assert.equal(formatEngine({ engine: null, queue: null }), '-');
  assert.equal(formatEngine({ engine: null, queue: { interactive: 2, standard: 0, batch: 10 } }), '12 queued (2 interactive, 10 batch)');
  assert.equal(formatEngine({ engine: null, queue: { batch: 0 } }), '0 queued');
});
