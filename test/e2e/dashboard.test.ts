import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { chromium } from 'playwright-core';
import { createMockBackend } from '../../src/mock-backend/create-mock-backend.js';
import { chatBody, send } from '../helpers/http.js';
import { countColour, decodePng } from '../helpers/png.js';
import { startProxy } from '../helpers/start-proxy.js';

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

test('/dashboard draws QPS, in-flight, TTFT and throughput from the live metrics, with no outside resource', {
  timeout: 90_000,
}, async (t) => {
  if (!existsSync(CHROMIUM)) {
    assert.ok(!process.env.CI, 'Chromium must be installed in CI (.ci/run installs it)');
    t.skip('Chromium is not installed (apt-get install chromium)');
    return;
  }
  const mock = await createMockBackend({ port: 0 });
  t.after(() => mock.close());
  const proxy = await startProxy(['--workers', '2', '--backend-url', mock.url, '--access-log', 'off']);
  t.after(() => proxy.stop());

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const foreign: string[] = [];
  page.on('request', (request) => {
    if (!request.url().startsWith(proxy.url)) foreign.push(request.url());
  });
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await page.goto(`${proxy.url}/dashboard`, { timeout: WAIT_MS });

  // Streamed chats with 200 ms to first token and 10 ms per token, while the page polls.
  let traffic = true;
  const driver = (async () => {
    while (traffic) {
      await Promise.all(
        Array.from({ length: 4 }, () =>
          send(`${proxy.url}/inference/v1/chat/completions`, {
            body: chatBody({ stream: true, max_tokens: 8 }),
            headers: { 'x-mock-ttft-ms': '200', 'x-mock-token-delay-ms': '10' },
          }),
        ),
      );
    }
  })();
  t.after(() => {
    traffic = false;
  });

  // The page runs under a strict CSP (no eval), so the test reads the DOM only, never evaluates in the page.
  const charts = ['qps', 'inflight', 'ttft', 'throughput', 'tokens'];
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const points = await Promise.all(charts.map(async (id) => Number((await page.getAttribute(`#chart-${id}`, 'data-points')) ?? '0')));
    if (points.every((n) => n > 0)) break;
    assert.ok(Date.now() < deadline, `charts still empty after ${WAIT_MS} ms: ${charts.map((id, i) => `${id}=${points[i]}`).join(' ')}`);
    await delay(250);
  }
  traffic = false;
  await driver;
  await delay(100);

  const status = await page.textContent('#status');
  assert.match(status ?? '', /workers alive: 2/);
  const legend = await page.textContent('#grid');
  assert.match(legend ?? '', /p50: 0\.\d+ s/, 'TTFT p50 shown in seconds');

  const dir = mkdtempSync(join(tmpdir(), 'iproxy-dashboard-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const shot = join(dir, 'dashboard.png');
  await page.screenshot({ path: shot });
  if (process.env.DASHBOARD_SCREENSHOT) await page.screenshot({ path: process.env.DASHBOARD_SCREENSHOT, fullPage: true });
  // Every chart drew its first series: count pixels of that colour (#1f77b4) inside each canvas.
  const image = decodePng(readFileSync(shot));
  for (const id of charts) {
    const box = await page.locator(`#chart-${id}`).boundingBox();
    assert.ok(box !== null, `#chart-${id} is on the page`);
    const painted = countColour(image, box, [0x1f, 0x77, 0xb4]);
    assert.ok(painted > 20, `#chart-${id} drew its line (${painted} pixels)`);
  }

  assert.deepEqual(foreign, [], 'the page loads nothing from outside the proxy');
  assert.deepEqual(pageErrors, []);
});
