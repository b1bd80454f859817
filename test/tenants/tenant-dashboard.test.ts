/** The tenants table of /dashboard in headless Chromium, against the real cluster. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventually } from '../../support/wait.js';
import { hasChromium, launchChromium } from '../helpers/chromium.js';
import { call, chatBody } from '../helpers/http.js';
import { startMockBackend } from '../helpers/mock-backend.js';
import { startCluster } from '../helpers/start-proxy.js';
import { configFile } from '../helpers/tenant-load.js';

const WAIT_MS = 30_000;
/** Columns: key, requests, tokens/s, rejected, budget left; tokens/s depends on when the polls fell. */
const TOKENS_COLUMN = 2;

test('/dashboard shows a table of the keys: requests and rejections of the last minute, budget left', { timeout: 90_000 }, async (t) => {
  if (!hasChromium(t)) return;
  const mock = await startMockBackend(t);
  const file = configFile(
    t,
    'keys:\n  - name: team-a\n    key: key-a\n    budget: {tokens: 1000, per: month}\n  - name: team-b\n    key: key-b\n    rpm: 2\n',
  );
  const running = await startCluster(t, ['--workers', '2', '--backend-url', mock.url, '--config', file.path]);
  const browser = await launchChromium(t);
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await page.goto(`${running.url}/dashboard`, { timeout: WAIT_MS });
  const table = () => page.evaluate(() => (globalThis as unknown as { __dashboard: { tenants: string[][] } }).__dashboard.tenants);
  // The page's first poll is the base of the window: traffic after it shows in the table.
  await eventually('a first poll', table, (rows) => rows.length === 2, { timeoutMs: WAIT_MS });
  const headers = (key: string) => ({ authorization: `Bearer ${key}`, 'content-type': 'application/json' });
  for (let i = 0; i < 2; i++)
    assert.equal((await call(`${running.url}/v1/chat/completions`, { headers: headers('key-a'), body: chatBody() })).status, 200);
  const b = [];
  for (let i = 0; i < 3; i++)
    b.push((await call(`${running.url}/v1/chat/completions`, { headers: headers('key-b'), body: chatBody() })).status);
  assert.deepEqual(b, [200, 200, 429]);
  const shown = await eventually(
    'the traffic in the table',
    async () => (await table()).map((row) => row.filter((_, i) => i !== TOKENS_COLUMN)),
    (rows) => rows[0]?.[1] === '2' && rows[1]?.[1] === '3' && rows[0]?.[3] === '986',
    { timeoutMs: WAIT_MS },
  );
  assert.deepEqual(shown, [
    ['team-a', '2', '-', '986'],
    ['team-b', '3', 'rpm: 1', '-'],
  ]);
  assert.deepEqual(pageErrors, []);
});
