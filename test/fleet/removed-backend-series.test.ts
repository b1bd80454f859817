import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REMOVED_SERIES_GRACE_ENV } from '../../src/shared/removed-series-grace.js';
import { postChat, startMocks } from '../helpers/fleet.js';
import { send } from '../helpers/http.js';
import { startProxy } from '../helpers/start-proxy.js';
import { eventually } from '../helpers/wait.js';

test('a backend removed by a reload stops being exported after the grace period: /metrics does not grow for ever', {
  timeout: 90_000,
}, async (t) => {
  const [kept, removed] = await startMocks(t, [{}, {}]);
  const dir = mkdtempSync(join(tmpdir(), 'iproxy-series-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'fleet.json');
  writeFileSync(file, JSON.stringify({ routing: 'round-robin', backends: [kept!.url, removed!.url] }));
  const proxy = await startProxy(['--config', file, '--workers', '2'], { [REMOVED_SERIES_GRACE_ENV]: '1000' });
  t.after(() => proxy.stop());
  for (let i = 0; i < 8; i++) assert.equal((await postChat(proxy.url)).status, 200);
  const metrics = async () => (await send(`${proxy.url}/metrics`)).text;
  assert.ok((await metrics()).includes(`url="${removed!.url}"`));

  writeFileSync(file, JSON.stringify({ routing: 'round-robin', backends: [kept!.url] }));
  proxy.child.kill('SIGHUP');
  await proxy.waitForLine((line) => line.msg === 'rolling restart finished', 30_000);
  // After the grace period (1 s here, 5 min by default) every series with its url label is gone: the
  // workers', the totals kept for the replaced workers, and the primary's own (backend_up, health checks).
  await eventually('no series of the removed backend', metrics, (text) => !text.includes(`url="${removed!.url}"`), { timeoutMs: 15_000 });
  const text = await metrics();
  assert.ok(text.includes(`url="${kept!.url}"`));
  assert.equal((await postChat(proxy.url)).status, 200);
});
