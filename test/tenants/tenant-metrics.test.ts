/** The tenant metrics of the real cluster (2 workers, merged by the primary), with exact counts; and the access log's key. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { freePort } from '../../support/ports.js';
import { eventually } from '../../support/wait.js';
import { call, chatBody, send } from '../helpers/http.js';
import { startMockBackend } from '../helpers/mock-backend.js';
import { startCluster } from '../helpers/start-proxy.js';
import { configFile } from '../helpers/tenant-load.js';

const TEST_TIMEOUT_MS = 60_000;
const headers = (key: string) => ({ authorization: `Bearer ${key}`, 'content-type': 'application/json' });
/** The sample lines of `prefix`, sorted: the merge of two workers' registries lists series in the order they were first seen. */
const lines = (text: string, prefix: string): string[] =>
  text
    .split('\n')
    .filter((line) => line.startsWith(prefix))
    .sort();

test('tenant_requests_total, tenant_tokens_total, ratelimit_rejected_total and tenant_budget_remaining_tokens count exactly', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const mock = await startMockBackend(t);
  const file = configFile(
    t,
    [
      'keys:',
      '  - name: team-a',
      '    key: key-a',
      '    models: [mock-model]',
      '    budget: {tokens: 1000, per: month}',
      '  - name: team-b',
      '    key: key-b',
      '    rpm: 3',
      '',
    ].join('\n'),
  );
  const running = await startCluster(t, ['--workers', '2', '--backend-url', mock.url, '--config', file.path]);
  // Each chat: 3 prompt tokens ("hello there proxy") and 4 completion tokens (max_tokens 4).
  for (let i = 0; i < 2; i++) {
    assert.equal((await call(`${running.url}/v1/chat/completions`, { headers: headers('key-a'), body: chatBody() })).status, 200);
  }
  assert.equal(
    (await call(`${running.url}/v1/chat/completions`, { headers: headers('key-a'), body: chatBody({ model: 'other' }) })).status,
    403,
  );
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++)
    statuses.push((await call(`${running.url}/v1/chat/completions`, { headers: headers('key-b'), body: chatBody() })).status);
  assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
  const metrics = await eventually(
    'the budget settled',
    async () => (await send(`${running.url}/metrics`)).text,
    (text) => text.includes('tenant_budget_remaining_tokens{key="team-a"} 986'),
  );
  assert.deepEqual(lines(metrics, 'tenant_requests_total{'), [
    'tenant_requests_total{key="team-a",status="200"} 2',
    'tenant_requests_total{key="team-a",status="403"} 1',
    'tenant_requests_total{key="team-b",status="200"} 3',
    'tenant_requests_total{key="team-b",status="429"} 2',
  ]);
  assert.deepEqual(lines(metrics, 'tenant_tokens_total{'), [
    'tenant_tokens_total{key="team-a",kind="completion"} 8',
    'tenant_tokens_total{key="team-a",kind="prompt"} 6',
    'tenant_tokens_total{key="team-b",kind="completion"} 12',
    'tenant_tokens_total{key="team-b",kind="prompt"} 9',
  ]);
  assert.deepEqual(
    lines(metrics, 'ratelimit_rejected_total{').filter((line) => !line.endsWith(' 0')),
    ['ratelimit_rejected_total{key="team-a",limit="model"} 1', 'ratelimit_rejected_total{key="team-b",limit="rpm"} 2'],
  );
  assert.deepEqual(lines(metrics, 'tenant_budget_remaining_tokens'), ['tenant_budget_remaining_tokens{key="team-a"} 986']);
  assert.deepEqual(lines(metrics, 'tenant_budget_tokens'), ['tenant_budget_tokens{key="team-a"} 1000']);
  assert.deepEqual(lines(metrics, 'ratelimit_store_errors_total'), ['ratelimit_store_errors_total 0']);
  // The access log names the key, and never holds the key itself.
  await running.waitForLine((line) => line.msg === 'access' && line.key === 'team-b' && line.status === 429);
  const access = running.lines.filter((line) => line.msg === 'access');
  assert.equal(access.length, 8);
  assert.deepEqual([...new Set(access.map((line) => line.key))].sort(), ['team-a', 'team-b']);
  assert.equal(JSON.stringify(running.lines).includes('key-a'), false);
});

test('ratelimit_store_errors_total counts each lease redis could not give', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const mock = await startMockBackend(t);
  // rpm 10: the worker leases 2 requests at a time (1 and a chunk of 5%, at least 1), each lease needs
  // redis, and nothing listens on the port: requests 1, 3 and 5 ask for a lease, 2 and 4 use the second unit.
  const file = configFile(t, 'keys:\n  - name: team\n    key: team-key\n    rpm: 10\n');
  const nowhere = `redis://127.0.0.1:${await freePort()}`;
  const running = await startCluster(t, ['--workers', '1', '--backend-url', mock.url, '--config', file.path, '--redis-url', nowhere]);
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) statuses.push((await call(`${running.url}/version`, { headers: headers('team-key') })).status);
  assert.deepEqual(statuses, [200, 200, 200, 200, 200]);
  const metrics = (await send(`${running.url}/metrics`)).text;
  assert.deepEqual(lines(metrics, 'ratelimit_store_errors_total'), ['ratelimit_store_errors_total 3']);
  assert.equal(running.lines.filter((line) => line.msg === 'shared rate limits unavailable').length, 1);
});
