import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type BackendReading, DashboardSeries, pointBetween, type Reading, readDashboard } from '../../src/dashboard/dashboard-series.js';
import { parsePromText } from '../../src/metrics/prom-text.js';

const A = 'http://a:8000';
const B = 'http://b:9000';
const CHAT = 'endpoint="/v1/chat/completions"';

/** What one backend has counted so far, written out as the proxy's /metrics would. */
interface Counts {
  inFlight: number;
  chatIn: number;
  modelsIn: number;
  /** output_requests_total of the chat endpoint, by status. */
  out: Record<string, number>;
  shed: number;
  prompt: number;
  completion: number;
  outcomes: Record<string, number>;
  /** upstream_retries_total by reason. */
  retries: Record<string, number>;
  /** Cumulative TTFT buckets at le 1, 2, 4 and +Inf; throughput at 10, 50, +Inf. */
  ttft: [number, number, number, number];
  throughput: [number, number, number];
}

function exposition(url: string, c: Counts): string {
  const u = `url="${url}"`;
  return [
    '# HELP in_flight_requests Proxied requests that have arrived and not yet ended.',
    '# TYPE in_flight_requests gauge',
    `in_flight_requests{${u}} ${c.inFlight}`,
    `input_requests_total{${u},${CHAT}} ${c.chatIn}`,
    `input_requests_total{${u},endpoint="/v1/models"} ${c.modelsIn}`,
    ...Object.entries(c.out).map(([status, n]) => `output_requests_total{${u},${CHAT},status="${status}"} ${n}`),
    `overload_rejections_total{${u}} ${c.shed}`,
    `prompt_tokens_total{${u},${CHAT}} ${c.prompt}`,
    `completion_tokens_total{${u},${CHAT}} ${c.completion}`,
    ...Object.entries(c.outcomes).map(([outcome, n]) => `stream_outcomes_total{${u},${CHAT},outcome="${outcome}"} ${n}`),
    ...Object.entries(c.retries).map(([reason, n]) => `upstream_retries_total{${u},reason="${reason}"} ${n}`),
    ...['1', '2', '4', '+Inf'].map((le, i) => `time_to_first_token_seconds_bucket{${u},${CHAT},le="${le}"} ${c.ttft[i]}`),
    ...['10', '50', '+Inf'].map((le, i) => `decoding_throughput_tokens_per_second_bucket{${u},${CHAT},le="${le}"} ${c.throughput[i]}`),
  ].join('\n');
}

const BEFORE: Counts = {
  inFlight: 2,
  chatIn: 10,
  modelsIn: 4,
  out: { '200': 6, '404': 1, '429': 2, '499': 1, '502': 1, '503': 3 },
  shed: 2,
  prompt: 100,
  completion: 400,
  outcomes: { completed: 5, inband_error: 1, timeout: 0 },
  retries: { '503': 2, connect: 1 },
  ttft: [1, 3, 4, 4],
  throughput: [0, 2, 2],
};
/** Ten seconds later: more chats, errors, tokens and observations; no more /v1/models requests. */
const AFTER: Counts = {
  ...BEFORE,
  out: { '200': 20, '404': 1, '429': 5, '499': 2, '502': 1, '503': 7 },
  outcomes: { completed: 15, inband_error: 1, timeout: 2 },
  retries: { '503': 5, connect: 1, reset: 1 },
  ttft: [1, 3, 8, 8],
  throughput: [1, 6, 7],
  inFlight: 1,
  chatIn: 30,
  shed: 3,
  prompt: 350,
  completion: 1400,
};
/** A second backend that has served nothing yet: its series exist from startup. */
const IDLE = `in_flight_requests{url="${B}"} 0\ninput_requests_total{url="${B}",${CHAT}} 0`;

function readingAt(t: number, counts: Counts): Reading {
  return readDashboard(parsePromText(`${exposition(A, counts)}\n${IDLE}\nworkers_alive 2\n`), t);
}

test('a scrape is reduced to each backend’s counts, status classes (disjoint) and buckets', () => {
  const reading = readingAt(1_000, BEFORE);
  assert.deepEqual(Object.keys(reading.backends), [A, B]);
  const a: BackendReading = {
    inFlight: 2,
    requestsIn: 14,
    requestsOut: 14,
    promptTokens: 100,
    completionTokens: 400,
    // 4xx: 404 and 499; 429 alone; 5xx: 502 and 503 less the 2 shed 503s.
    statuses: { '4xx other': 2, '429 rate limit': 2, '5xx other': 2, '503 shed': 2 },
    outcomes: { inband_error: 1, timeout: 0 },
    retries: { '503': 2, connect: 1 },
    ttft: [
      [1, 1],
      [2, 3],
      [4, 4],
      [null, 4],
    ],
    throughput: [
      [10, 0],
      [50, 2],
      [null, 2],
    ],
    overhead: [],
  };
  assert.deepEqual(reading, {
    t: 1_000,
    backends: {
      [A]: a,
      [B]: {
        inFlight: 0,
        requestsIn: 0,
        requestsOut: 0,
        promptTokens: 0,
        completionTokens: 0,
        statuses: { '4xx other': 0, '429 rate limit': 0, '5xx other': 0, '503 shed': 0 },
        outcomes: {},
        retries: {},
        ttft: [],
        throughput: [],
        overhead: [],
      },
    },
  });
  // The page gets the primary's last reading as JSON: nothing is lost on the way.
  assert.deepEqual(JSON.parse(JSON.stringify(reading)), reading);
});

test('a point holds the increases over the interval and the quantiles since the window start', () => {
  const before = readingAt(1_000, BEFORE);
  const after = readingAt(11_000, AFTER);
  const point = pointBetween(after, before, before);
  assert.equal(point.t, 11_000);
  assert.equal(point.seconds, 10);
  assert.deepEqual(point.backends[A], {
    inFlight: 1,
    requestsIn: 20,
    requestsOut: 22,
    promptTokens: 250,
    completionTokens: 1000,
    // 4 TTFTs, all in (2, 4]: p50 at rank 2 is 2 + 2 × 2/4; p99 at rank 3.96 is 2 + 2 × 3.96/4.
    ttftP50S: 3,
    ttftP99S: 2 + 2 * (3.96 / 4),
    // 5 throughputs: 1 in (0, 10], 3 in (10, 50], 1 above 50 (the highest finite bound stands for it).
    throughputP50: 10 + 40 * ((2.5 - 1) / 3),
    throughputP99: 50,
    overheadP50S: null,
    overheadP99S: null,
    statuses: { '4xx other': 1, '429 rate limit': 3, '5xx other': 3, '503 shed': 1 },
    outcomes: { inband_error: 0, timeout: 2 },
    // A reason's series appears with its first retry: one not there before counts from 0.
    retries: { '503': 3, connect: 0, reset: 1 },
  });
  assert.deepEqual(point.backends[B], {
    inFlight: 0,
    requestsIn: 0,
    requestsOut: 0,
    promptTokens: 0,
    completionTokens: 0,
    ttftP50S: null,
    ttftP99S: null,
    throughputP50: null,
    throughputP99: null,
    overheadP50S: null,
    overheadP99S: null,
    statuses: { '4xx other': 0, '429 rate limit': 0, '5xx other': 0, '503 shed': 0 },
    outcomes: {},
    retries: {},
  });
});

test('the first reading gives in-flight only: no interval for counts, no window for quantiles', () => {
  const point = pointBetween(readingAt(1_000, BEFORE), null, null);
  assert.equal(point.seconds, 0);
  assert.deepEqual(point.backends[A], {
    inFlight: 2,
    requestsIn: null,
    requestsOut: null,
    promptTokens: null,
    completionTokens: null,
    ttftP50S: null,
    ttftP99S: null,
    throughputP50: null,
    throughputP99: null,
    overheadP50S: null,
    overheadP99S: null,
    statuses: {},
    outcomes: {},
    retries: {},
  });
});

test('the quantile window starts at the newest reading at least 30 s old', () => {
  const series = new DashboardSeries(30_000);
  // One TTFT observed between 0 s and 10 s, none after.
  const observed = (t: number, ttft: Counts['ttft']) => readingAt(t, { ...BEFORE, ttft });
  assert.equal(series.add(observed(0, [0, 0, 0, 0])).backends[A]?.ttftP50S, null);
  assert.equal(series.add(observed(10_000, [1, 1, 1, 1])).backends[A]?.ttftP50S, 0.5);
  assert.equal(series.add(observed(20_000, [1, 1, 1, 1])).backends[A]?.ttftP50S, 0.5);
  // At 30 s the window still starts at 0 s; at 40 s it starts at 10 s, after the observation.
  assert.equal(series.add(observed(30_000, [1, 1, 1, 1])).backends[A]?.ttftP50S, 0.5);
  assert.equal(series.add(observed(40_000, [1, 1, 1, 1])).backends[A]?.ttftP50S, null);
  assert.equal(series.last()?.t, 40_000);
});

test('resuming from a known reading makes the next point’s counts relative to it', () => {
  const series = new DashboardSeries();
  series.resume(readingAt(1_000, BEFORE));
  const point = series.add(readingAt(3_000, AFTER));
  assert.equal(point.seconds, 2);
  assert.equal(point.backends[A]?.requestsIn, 20);
  assert.deepEqual(point.backends[A]?.statuses, { '4xx other': 1, '429 rate limit': 3, '5xx other': 3, '503 shed': 1 });
});

test('a backend first seen in the newer reading starts without counts', () => {
  const before = readDashboard(parsePromText(IDLE), 1_000);
  const after = readingAt(2_000, AFTER);
  const point = pointBetween(after, before, before);
  assert.equal(point.backends[A]?.requestsIn, null);
  assert.deepEqual(point.backends[A]?.statuses, {});
  assert.equal(point.backends[A]?.ttftP50S, null);
  assert.equal(point.backends[B]?.requestsIn, 0);
});

test("engine gauges go with their backend, the proxy's queue with its own row; absent without their series", () => {
  const text = [
    `in_flight_requests{url="${A}"} 2`,
    `backend_engine_waiting{url="${A}"} 3`,
    `backend_engine_running{url="${A}"} 8`,
    `backend_engine_kv_usage{url="${A}"} 0.25`,
    `backend_saturated{url="${A}"} 1`,
    `in_flight_requests{url="${B}"} 1`,
    `backend_engine_waiting{url="${B}"} 0`,
    `backend_engine_running{url="${B}"} 1`,
    'in_flight_requests{url="none"} 4',
    'queue_depth{priority="interactive"} 1',
    'queue_depth{priority="batch"} 3',
    '',
  ].join('\n');
  const reading = readDashboard(parsePromText(text), 1_000);
  assert.deepEqual(reading.backends[A]?.engine, { waiting: 3, running: 8, kvUsage: 0.25, saturated: true });
  assert.deepEqual(reading.backends[B]?.engine, { waiting: 0, running: 1, kvUsage: null, saturated: false });
  assert.deepEqual(reading.backends.none?.queue, { interactive: 1, batch: 3 });
  assert.equal('queue' in (reading.backends[A] as BackendReading), false);
  const point = pointBetween(reading, null, null);
  assert.deepEqual(point.backends[A]?.engine, reading.backends[A]?.engine);
  assert.deepEqual(point.backends.none?.queue, { interactive: 1, batch: 3 });
  const bare = readDashboard(parsePromText(`in_flight_requests{url="${A}"} 2\n`), 1_000);
  assert.equal('engine' in (bare.backends[A] as BackendReading), false);
});
