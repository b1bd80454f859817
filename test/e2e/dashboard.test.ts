import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import type { Page } from 'playwright-core';
import type { DashboardHistory } from '../../src/dashboard/dashboard-series.js';
import { createMockBackend, type MockBackend } from '../../src/mock-backend/create-mock-backend.js';
import { eventually } from '../../support/wait.js';
import { hasChromium, launchChromium } from '../helpers/chromium.js';
import { postChat, startFleetProxy, startMocks } from '../helpers/fleet.js';
import { chatBody, type SimpleResponse, send } from '../helpers/http.js';
import { countColour, decodePng } from '../helpers/png.js';
import { startProxy } from '../helpers/start-proxy.js';

const WAIT_MS = 30_000;
/** The primary samples every half second instead of every 10 s, so its 90 points span 45 s: all of this test. */
const SAMPLE_MS = 500;
/** Per worker with 2 workers: enough for the streamed traffic (4 at once), few enough to shed a burst. */
const MAX_IN_FLIGHT = 8;
const BURST = 12;
/** The charts every test draws; `retries` needs a second backend to retry on. */
const CHARTS = ['qps', 'inflight', 'ttft', 'overhead', 'throughput', 'tokens', 'errors', 'outcomes'];
/** The backends table's columns (src/dashboard/page/draw-backends.ts): the rate's seconds are the page's own. */
const RATE_COLUMN = 4;
const TTFT_COLUMN = 6;
/** The engine's own gauges: none in the history the first draw comes from, then whatever the last reading said. */
const ENGINE_COLUMN = 8;
/** Well inside the TTFT bucket (0.1, 0.25] s, so that every p50 is its midpoint by interpolation: 0.175 s. */
const MOCK_TTFT_MS = 120;
const P50_TTFT = '0.175 s';
const PROXY_ROW_NAME = 'proxy (no backend)';

/** What the page exposes as window.__dashboard (src/dashboard/page/main.ts). */
interface DashboardState {
  polls: number;
  errors: number;
  points: Record<string, number>;
  historyPoints: Record<string, number>;
  table: string[][];
  firstDraw: { polls: number; points: Record<string, number>; historyPoints: Record<string, number>; table: string[][] } | null;
}

/** Errors and unfinished completions in the primary's history: the increases of every point, summed. */
function historyTotals(history: DashboardHistory, url: string): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const point of history.points) {
    const backend = point.backends[url];
    for (const [name, count] of Object.entries({ ...backend?.statuses, ...backend?.outcomes })) totals[name] = (totals[name] ?? 0) + count;
  }
  return totals;
}

/** Responses in the primary's history, by url: the increases of every point, summed. */
function historyAnswered(history: DashboardHistory): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const point of history.points) {
    for (const [url, backend] of Object.entries(point.backends)) totals[url] = (totals[url] ?? 0) + (backend.requestsOut ?? 0);
  }
  return totals;
}

async function readHistory(base: string): Promise<DashboardHistory> {
  return JSON.parse((await send(`${base}/dashboard/history`)).text) as DashboardHistory;
}

/** The table without the columns whose figures are not the test's to know. */
function without(table: readonly string[][], ...columns: number[]): string[][] {
  return table.map((row) => row.filter((_, i) => !columns.includes(i)));
}

/** A share as the table writes it: whole percent. */
function share(count: number, total: number): string {
  return `${Math.round((100 * count) / total)}%`;
}

/** Runs in the page (the test's tsconfig has no DOM types: globalThis is the page's window there). */
function state(page: Page): Promise<DashboardState> {
  return page.evaluate(() => (globalThis as unknown as { __dashboard: DashboardState }).__dashboard);
}

interface OpenedPage {
  readonly page: Page;
  /** Requests to anything but the proxy: there must be none. */
  readonly foreign: string[];
  readonly pageErrors: string[];
}

/** /dashboard of `base` in a fresh headless Chromium, closed when the test ends. */
async function openDashboard(t: TestContext, base: string): Promise<OpenedPage> {
  const browser = await launchChromium(t);
  // Tall enough for the backends table and every chart: a screenshot is of the viewport.
  const page = await browser.newPage({ viewport: { width: 1280, height: 1900 } });
  const foreign: string[] = [];
  page.on('request', (request) => {
    if (!request.url().startsWith(base)) foreign.push(request.url());
  });
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await page.goto(`${base}/dashboard`, { timeout: WAIT_MS });
  return { page, foreign, pageErrors };
}

/** The first draw's state, once there is one. */
async function firstDraw(page: Page): Promise<NonNullable<DashboardState['firstDraw']>> {
  const opened = await eventually(
    'the first draw',
    () => state(page),
    (s) => s.firstDraw !== null,
    { timeoutMs: WAIT_MS },
  );
  return opened.firstDraw as NonNullable<DashboardState['firstDraw']>;
}

test('/dashboard opened after traffic shows the primary’s history at once, errors included, then draws live', {
  timeout: 120_000,
}, async (t) => {
  if (!hasChromium(t)) return;
  const mock = await createMockBackend({ port: 0 });
  t.after(() => mock.close());
  const proxy = await startProxy(
    // --max-fails 0: the three 503s below must not take the one backend out (the table says `up`), whichever
    // worker the kernel hands their connections to.
    [
      '--workers',
      '2',
      '--backend-url',
      mock.url,
      '--access-log',
      'off',
      '--max-in-flight',
      String(MAX_IN_FLIGHT),
      '--metrics-port',
      '0',
      '--max-fails',
      '0',
      '--dashboard-sample-interval',
      String(SAMPLE_MS),
    ],
  );
  t.after(() => proxy.stop());
  const metricsPort = (await proxy.waitForLine((line) => line.msg === 'metrics port listening')).port as number;
  const chat = (headers: Record<string, string>, fields: Record<string, unknown> = {}): Promise<SimpleResponse> =>
    send(`${proxy.url}/inference/v1/chat/completions`, { body: chatBody(fields), headers });
  const streams = (): Promise<SimpleResponse[]> =>
    Promise.all(
      Array.from({ length: 4 }, () => chat({ 'x-mock-ttft-ms': '200', 'x-mock-token-delay-ms': '10' }, { stream: true, max_tokens: 8 })),
    );

  // Before any page is open: streamed chats, then one kind of failure after another.
  await streams();
  await streams();
  for (const status of ['503', '503', '503', '429', '429', '404'])
    assert.equal((await chat({ 'x-mock-status': status })).status, Number(status));
  assert.equal((await chat({ 'x-mock-inband-error-after': '2' }, { stream: true, max_tokens: 8 })).status, 200);
  // Each worker admits MAX_IN_FLIGHT / 2 at once: of a burst of slow requests, at least BURST - MAX_IN_FLIGHT are shed.
  const burst = await Promise.all(Array.from({ length: BURST }, () => chat({ 'x-mock-ttft-ms': '1500' })));
  const shed = burst.filter((res) => res.status === 503).length;
  assert.ok(shed >= BURST - MAX_IN_FLIGHT, `${shed} shed`);
  assert.equal(burst.filter((res) => res.status === 200).length, BURST - shed);

  // The primary's history has caught up: asked through a worker (IPC relay), as the page will.
  const expected = {
    '4xx other': 1,
    '429 rate limit': 2,
    '5xx other': 3,
    '503 shed': 0,
    client_disconnect: 0,
    inband_error: 1,
    timeout: 0,
    upstream_error: 0,
    proxy_cut: 0,
  };
  // Shed requests never reached a backend: they are the proxy's own answers, url="none".
  const expectedUnrouted = { '4xx other': 0, '429 rate limit': 0, '5xx other': 0, '503 shed': shed };
  // 8 streams, 6 errors, 1 in-band error and the burst's 200s reached the backend.
  const answered = { [mock.url]: 15 + BURST - shed, none: shed };
  await eventually(
    'the errors in /dashboard/history',
    async () => {
      const history = await readHistory(proxy.url);
      return { backend: historyTotals(history, mock.url), unrouted: historyTotals(history, 'none'), answered: historyAnswered(history) };
    },
    (totals) => isDeepStrictEqual(totals, { backend: expected, unrouted: expectedUnrouted, answered }),
    { timeoutMs: WAIT_MS },
  );
  const fromMetricsPort = await send(`http://127.0.0.1:${metricsPort}/dashboard/history`);
  assert.equal(fromMetricsPort.status, 200);
  assert.equal(fromMetricsPort.headers['content-type'], 'application/json');
  assert.deepEqual(historyTotals(JSON.parse(fromMetricsPort.text) as DashboardHistory, mock.url), expected);

  const { page, foreign, pageErrors } = await openDashboard(t, proxy.url);

  // The first draw comes from the history alone, before the page's first poll: every chart has points at once.
  const first = await firstDraw(page);
  assert.equal(first.polls, 0);
  for (const id of CHARTS) {
    assert.ok((first.historyPoints[id] ?? 0) > 0, `${id} drew history on open: ${JSON.stringify(first)}`);
    assert.equal(first.points[id], first.historyPoints[id], `${id}: nothing but history yet`);
  }
  // The backends table too, with the proxy's own answers (the shed requests) in a row of their own. The
  // streams' TTFTs lie in two buckets here (the in-band error's first token came at once): p50 not checked.
  const total = 15 + BURST;
  assert.deepEqual(without(first.table, RATE_COLUMN, TTFT_COLUMN), [
    [mock.url, 'up', '0', String(15 + BURST - shed), share(15 + BURST - shed, total), '-', '-'],
    [PROXY_ROW_NAME, '-', '0', String(shed), share(shed, total), '-', '-'],
  ]);
  const host = mock.url.replace('http://', '');
  assert.deepEqual(await page.locator('#legend-errors span').allTextContents(), [
    `${host} 4xx other: 1`,
    `${host} 429 rate limit: 2`,
    `${host} 5xx other: 3`,
    `${host} 503 shed: 0`,
    `${PROXY_ROW_NAME} 4xx other: 0`,
    `${PROXY_ROW_NAME} 429 rate limit: 0`,
    `${PROXY_ROW_NAME} 5xx other: 0`,
    `${PROXY_ROW_NAME} 503 shed: ${shed}`,
  ]);
  assert.deepEqual(await page.locator('#legend-outcomes span').allTextContents(), [
    `${host} client_disconnect: 0`,
    `${host} inband_error: 1`,
    `${host} proxy_cut: 0`,
    `${host} timeout: 0`,
    `${host} upstream_error: 0`,
  ]);

  // Then it polls: streamed chats with 200 ms to first token and 10 ms per token while it does.
  let traffic = true;
  const driver = (async () => {
    while (traffic) await streams();
  })();
  t.after(() => {
    traffic = false;
  });
  const live = await eventually(
    'two polls',
    () => state(page),
    (s) => s.polls >= 2,
    { timeoutMs: WAIT_MS },
  );
  // The primary's last reading is the base of the first poll: every poll adds a rate point (in and out) at
  // once, for the backend and for the proxy's own answers (url="none").
  assert.equal(live.points.qps, (live.historyPoints.qps ?? 0) + 2 * 2 * live.polls);
  assert.equal(live.historyPoints.qps, first.historyPoints.qps);
  assert.equal(live.errors, 0);
  traffic = false;
  await driver;

  assert.match((await page.textContent('#status')) ?? '', /workers alive: 2/);
  assert.match((await page.textContent('#legend-ttft')) ?? '', /p50: 0\.\d+ s/, 'TTFT p50 shown in seconds');

  const dir = mkdtempSync(join(tmpdir(), 'iproxy-dashboard-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const shot = join(dir, 'dashboard.png');
  await page.screenshot({ path: shot });
  if (process.env.DASHBOARD_SCREENSHOT) await page.screenshot({ path: process.env.DASHBOARD_SCREENSHOT, fullPage: true });
  // Every chart drew its lines: count pixels of the first line's colour (#1f77b4) inside each canvas. In the
  // error panels the lines lie on one another at 0, so look for the one drawn last: the eighth (#17becf) for the
  // errors (the proxy's own 503 shed, after the backend's four), the fifth (#9467bd: upstream_error) for the outcomes.
  const image = decodePng(readFileSync(shot));
  for (const id of CHARTS) {
    const box = await page.locator(`#chart-${id}`).boundingBox();
    assert.ok(box !== null, `#chart-${id} is on the page`);
    const colour: [number, number, number] =
      id === 'errors' ? [0x17, 0xbe, 0xcf] : id === 'outcomes' ? [0x94, 0x67, 0xbd] : [0x1f, 0x77, 0xb4];
    const painted = countColour(image, box, colour);
    assert.ok(painted > 20, `#chart-${id} drew its line (${painted} pixels)`);
  }

  assert.deepEqual(foreign, [], 'the page loads nothing from outside the proxy');
  assert.deepEqual(pageErrors, []);
});

test('/dashboard in front of three backends: states and traffic in a table from the history on open; one goes down, the others take its traffic', {
  timeout: 120_000,
}, async (t) => {
  if (!hasChromium(t)) return;
  const mocks = await startMocks(t, [{ ttftMs: MOCK_TTFT_MS }, { ttftMs: MOCK_TTFT_MS }, { ttftMs: MOCK_TTFT_MS }]);
  const urls = mocks.map((mock) => mock.url);
  const [first, second] = mocks as [MockBackend, MockBackend, MockBackend];
  // One worker and round-robin: sequential requests go round the backends exactly. Health checks every 100 ms,
  // one failure takes a backend down.
  const args = [
    '--workers',
    '1',
    '--routing',
    'round-robin',
    '--health-interval',
    '100',
    '--unhealthy-threshold',
    '1',
    '--access-log',
    'off',
  ];
  const proxy = await startFleetProxy(t, urls, [...args, '--dashboard-sample-interval', String(SAMPLE_MS)]);
  const streamed = async (count: number): Promise<void> => {
    for (let i = 0; i < count; i++) assert.equal((await postChat(proxy.url, { stream: true })).status, 200);
  };
  const received = (): number[] => mocks.map((mock) => mock.stats.completionRequests);

  await streamed(6);
  assert.deepEqual(received(), [2, 2, 2]);
  // The second backend answers 503 for a while: a request that lands there is sent again to another one.
  second.control({ completionStatus: 503 });
  await streamed(3);
  second.control({ completionStatus: null });
  const failed = (received()[1] as number) - 2;
  assert.ok(failed >= 1, `round-robin sent none of 3 requests to the second backend: ${received()}`);
  // A retried request counts where it was answered: the second backend's 503s are its retries, not its answers.
  const answered = received().map((count, i) => (i === 1 ? count - failed : count));
  await eventually(
    'the answers and the retries in /dashboard/history',
    async () => {
      const history = await readHistory(proxy.url);
      const retries = history.points.reduce((n, point) => n + (point.backends[second.url]?.retries['503'] ?? 0), 0);
      return { answered: historyAnswered(history), retries };
    },
    (seen) =>
      isDeepStrictEqual(seen, { answered: { ...Object.fromEntries(urls.map((url, i) => [url, answered[i]])), none: 0 }, retries: failed }),
    { timeoutMs: WAIT_MS },
  );

  const { page, foreign, pageErrors } = await openDashboard(t, proxy.url);
  /** One row per backend, by url, and the proxy's own answers last; in-flight 0: every request has ended. The rate is not known here. */
  const expectedRows = (states: readonly string[], counts: readonly number[]): string[][] => {
    const total = counts.reduce((a, b) => a + b, 0);
    const rows = urls.map((url, i) => {
      const retries = i === 1 ? `503: ${failed}` : '-';
      return [url, states[i] as string, '0', String(counts[i]), 'rate', share(counts[i] as number, total), P50_TTFT, retries, '-'];
    });
    rows.sort((a, b) => ((a[0] as string) < (b[0] as string) ? -1 : 1));
    return [...rows, [PROXY_ROW_NAME, '-', '0', '0', 'rate', '0%', '-', '-', '-']];
  };

  // On open, before its first poll, the page shows the table from the primary's history and /healthz.
  const opened = await firstDraw(page);
  assert.equal(opened.polls, 0);
  assert.deepEqual(without(opened.table, RATE_COLUMN), without(expectedRows(['up', 'up', 'up'], answered), RATE_COLUMN));

  // The first backend fails its health checks: the page shows it down, and it gets no more requests.
  first.control({ health: 503 });
  await eventually(
    'the first backend shown down',
    () => state(page),
    (s) => s.table.find((row) => row[0] === first.url)?.[1] === 'down',
    { timeoutMs: WAIT_MS },
  );
  const before = received();
  await streamed(6);
  const after = received();
  assert.equal(after[0], before[0], 'the backend shown down got no request');
  assert.equal((after[1] as number) + (after[2] as number) - (before[1] as number) - (before[2] as number), 6);
  const moved = answered.map((count, i) => count + (after[i] as number) - (before[i] as number));
  // Its TTFTs may leave the 30 s window while this runs: the traffic is what this part checks.
  const live = await eventually(
    'the traffic moved to the other two',
    () => state(page),
    (s) =>
      isDeepStrictEqual(
        without(s.table, RATE_COLUMN, TTFT_COLUMN, ENGINE_COLUMN),
        without(expectedRows(['down', 'up', 'up'], moved), RATE_COLUMN, TTFT_COLUMN, ENGINE_COLUMN),
      ),
    { timeoutMs: WAIT_MS },
  );
  assert.equal(live.errors, 0);
  assert.deepEqual(await page.locator('#backends tbody td').allTextContents(), live.table.flat(), 'the page shows what it drew');
  assert.deepEqual(await page.locator('#backends td[data-state="down"]').allTextContents(), ['down']);
  assert.match((await page.textContent('#status')) ?? '', / backends: 1 down, 2 up /);

  // The charts: every backend's traffic and the proxy's own answers, each a line; the retries by the backend that failed.
  const hosts = [...urls].sort().map((url) => url.replace('http://', ''));
  const names = async (id: string): Promise<string[]> =>
    (await page.locator(`#legend-${id} span`).allTextContents()).map((text) => text.slice(0, text.lastIndexOf(': ')));
  assert.deepEqual(await names('qps'), [...[...hosts, PROXY_ROW_NAME].flatMap((host) => [`${host} in`, `${host} out`])]);
  assert.deepEqual(await page.locator('#legend-retries span').allTextContents(), [`${second.url.replace('http://', '')} 503: ${failed}`]);

  assert.deepEqual(foreign, []);
  assert.deepEqual(pageErrors, []);
});
