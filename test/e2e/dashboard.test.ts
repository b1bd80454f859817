import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { chromium, type Page } from 'playwright-core';
import { HISTORY_INTERVAL_ENV } from '../../src/dashboard/dashboard-history.js';
import type { DashboardHistory } from '../../src/dashboard/dashboard-series.js';
import { createMockBackend } from '../../src/mock-backend/create-mock-backend.js';
import { chatBody, type SimpleResponse, send } from '../helpers/http.js';
import { countColour, decodePng } from '../helpers/png.js';
import { startProxy } from '../helpers/start-proxy.js';
import { eventually } from '../helpers/wait.js';

const CHROMIUM = '/usr/bin/chromium';
// Flags for a sandboxed, offline machine: no background traffic to Google's hosts, no GPU.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const WAIT_MS = 30_000;
/** The primary samples every half second instead of every 10 s, so its 90 points span 45 s: all of this test. */
const SAMPLE_MS = 500;
/** Per worker with 2 workers: enough for the streamed traffic (4 at once), few enough to shed a burst. */
const MAX_IN_FLIGHT = 8;
const BURST = 12;
const CHARTS = ['qps', 'inflight', 'ttft', 'throughput', 'tokens', 'errors', 'outcomes'];

/** What the page exposes as window.__dashboard (src/dashboard/page/main.ts). */
interface DashboardState {
  polls: number;
  errors: number;
  points: Record<string, number>;
  historyPoints: Record<string, number>;
  firstDraw: { polls: number; points: Record<string, number>; historyPoints: Record<string, number> } | null;
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

/** Runs in the page (the test's tsconfig has no DOM types: globalThis is the page's window there). */
function state(page: Page): Promise<DashboardState> {
  return page.evaluate(() => (globalThis as unknown as { __dashboard: DashboardState }).__dashboard);
}

test('/dashboard opened after traffic shows the primary’s history at once, errors included, then draws live', {
  timeout: 120_000,
}, async (t) => {
  if (!existsSync(CHROMIUM)) {
    assert.ok(!process.env.CI, 'Chromium must be installed in CI (.ci/run installs it)');
    t.skip('Chromium is not installed (apt-get install chromium)');
    return;
  }
  const mock = await createMockBackend({ port: 0 });
  t.after(() => mock.close());
  const proxy = await startProxy(
    ['--workers', '2', '--backend-url', mock.url, '--access-log', 'off', '--max-in-flight', String(MAX_IN_FLIGHT), '--metrics-port', '0'],
    { [HISTORY_INTERVAL_ENV]: String(SAMPLE_MS) },
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
  };
  // Shed requests never reached a backend: they are the proxy's own answers, url="none".
  const expectedUnrouted = { '4xx other': 0, '429 rate limit': 0, '5xx other': 0, '503 shed': shed };
  await eventually(
    'the errors in /dashboard/history',
    async () => {
      const history = JSON.parse((await send(`${proxy.url}/dashboard/history`)).text) as DashboardHistory;
      return { backend: historyTotals(history, mock.url), unrouted: historyTotals(history, 'none') };
    },
    (totals) => isDeepStrictEqual(totals, { backend: expected, unrouted: expectedUnrouted }),
    { timeoutMs: WAIT_MS },
  );
  const fromMetricsPort = await send(`http://127.0.0.1:${metricsPort}/dashboard/history`);
  assert.equal(fromMetricsPort.status, 200);
  assert.equal(fromMetricsPort.headers['content-type'], 'application/json');
  assert.deepEqual(historyTotals(JSON.parse(fromMetricsPort.text) as DashboardHistory, mock.url), expected);

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
  const foreign: string[] = [];
  page.on('request', (request) => {
    if (!request.url().startsWith(proxy.url)) foreign.push(request.url());
  });
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await page.goto(`${proxy.url}/dashboard`, { timeout: WAIT_MS });

  // The first draw comes from the history alone, before the page's first poll: every chart has points at once.
  const opened = await eventually(
    'the first draw',
    () => state(page),
    (s) => s.firstDraw !== null,
    { timeoutMs: WAIT_MS },
  );
  const first = opened.firstDraw as NonNullable<DashboardState['firstDraw']>;
  assert.equal(first.polls, 0);
  for (const id of CHARTS) {
    assert.ok((first.historyPoints[id] ?? 0) > 0, `${id} drew history on open: ${JSON.stringify(first)}`);
    assert.equal(first.points[id], first.historyPoints[id], `${id}: nothing but history yet`);
  }
  const host = mock.url.replace('http://', '');
  assert.deepEqual(await page.locator('#legend-errors span').allTextContents(), [
    `${host} 4xx other: 1`,
    `${host} 429 rate limit: 2`,
    `${host} 5xx other: 3`,
    `${host} 503 shed: 0`,
    'none 4xx other: 0',
    'none 429 rate limit: 0',
    'none 5xx other: 0',
    `none 503 shed: ${shed}`,
  ]);
  assert.deepEqual(await page.locator('#legend-outcomes span').allTextContents(), [
    `${host} client_disconnect: 0`,
    `${host} inband_error: 1`,
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
  // errors (the proxy's own 503 shed, after the backend's four), the fourth (#ff7f0e: upstream_error) for the outcomes.
  const image = decodePng(readFileSync(shot));
  for (const id of CHARTS) {
    const box = await page.locator(`#chart-${id}`).boundingBox();
    assert.ok(box !== null, `#chart-${id} is on the page`);
    const colour: [number, number, number] =
      id === 'errors' ? [0x17, 0xbe, 0xcf] : id === 'outcomes' ? [0xff, 0x7f, 0x0e] : [0x1f, 0x77, 0xb4];
    const painted = countColour(image, box, colour);
    assert.ok(painted > 20, `#chart-${id} drew its line (${painted} pixels)`);
  }

  assert.deepEqual(foreign, [], 'the page loads nothing from outside the proxy');
  assert.deepEqual(pageErrors, []);
});
