import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parsePromText, sampleValue } from '../../src/metrics/prom-text.js';
import { eventually } from '../../support/wait.js';
import { postChat, startMocks } from '../helpers/fleet.js';
import { send } from '../helpers/http.js';
import { lineTimeMs, startProxy } from '../helpers/start-proxy.js';

/** Long enough to scrape the counters still there after the reload, on a loaded machine. */
const GRACE_MS = 4_000;

test('a backend removed by a reload stops being exported after the grace period: /metrics does not grow for ever', {
  timeout: 90_000,
}, async (t) => {
  const [kept, removed] = await startMocks(t, [{}, {}]);
  const dir = mkdtempSync(join(tmpdir(), 'iproxy-series-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'fleet.json');
  writeFileSync(file, JSON.stringify({ routing: 'round-robin', backends: [kept!.url, removed!.url] }));
  const proxy = await startProxy(['--config', file, '--workers', '2', '--removed-series-grace', String(GRACE_MS)]);
  t.after(() => proxy.stop());
  for (let i = 0; i < 8; i++) assert.equal((await postChat(proxy.url)).status, 200);
  const metrics = async () => (await send(`${proxy.url}/metrics`)).text;
  assert.ok((await metrics()).includes(`url="${removed!.url}"`));

  writeFileSync(file, JSON.stringify({ routing: 'round-robin', backends: [kept!.url] }));
  proxy.child.kill('SIGHUP');
  const removedAt = await proxy.waitForLine((line) => line.msg === 'backend removed', 30_000);
  // At once: its gauges go (backend_up of a backend that is no longer there says nothing); within the grace
  // its counters stay, so that a scrape sees their last values.
  const during = await metrics();
  assert.ok(Date.now() - lineTimeMs(removedAt) < GRACE_MS, 'scraped within the grace period');
  assert.equal(during.includes(`backend_up{url="${removed!.url}"}`), false, 'backend_up goes at once');
  assert.equal(during.includes(`backend_weight{url="${removed!.url}"}`), false, 'backend_weight goes at once');
  // Exactly the requests it served (the two workers' round-robins need not split the 8 evenly).
  const served = removed!.stats.completionRequests;
  assert.ok(served > 0);
  assert.equal(sampleValue(parsePromText(during), 'input_requests_total', { url: removed!.url, endpoint: '/v1/chat/completions' }), served);
  await proxy.waitForLine((line) => line.msg === 'rolling restart finished', 30_000);
  // After the grace period (a few seconds here, 5 min by default) every series with its url label is gone:
  // the workers', the totals kept for the replaced workers, and the primary's own (health checks).
  await eventually('no series of the removed backend', metrics, (text) => !text.includes(`url="${removed!.url}"`), { timeoutMs: 15_000 });
  const text = await metrics();
  assert.ok(text.includes(`url="${kept!.url}"`));
  assert.equal((await postChat(proxy.url)).status, 200);
});
