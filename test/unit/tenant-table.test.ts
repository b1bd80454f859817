import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatRejected, readTenants, tenantRows } from '../../src/dashboard/tenant-table.js';
import { parsePromText } from '../../src/metrics/prom-text.js';

const scrape = (requests: number, tokens: number, tpm: number, budget: number): string =>
  [
    `tenant_requests_total{key="team-a",status="200"} ${requests}`,
    `tenant_requests_total{key="team-a",status="429"} ${tpm}`,
    `tenant_tokens_total{key="team-a",kind="prompt"} ${tokens / 2}`,
    `tenant_tokens_total{key="team-a",kind="completion"} ${tokens / 2}`,
    `ratelimit_rejected_total{key="team-a",limit="tpm"} ${tpm}`,
    'ratelimit_rejected_total{key="team-a",limit="rpm"} 0',
    `tenant_budget_remaining_tokens{key="team-a"} ${budget}`,
    'tenant_tokens_total{key="other",kind="prompt"} 0',
    'ratelimit_rejected_total{key="other",limit="rpm"} 0',
  ].join('\n');

test('tenant rows: increases over the window, tokens per second, rejections by limit, the budget now', () => {
  const readings = [
    readTenants(parsePromText(scrape(10, 1000, 1, 5000)), 0),
    readTenants(parsePromText(scrape(15, 1500, 1, 4600)), 30_000),
    readTenants(parsePromText(scrape(30, 3000, 4, 4000)), 60_000),
  ];
  assert.deepEqual(tenantRows(readings), [
    { key: 'other', requests: 0, tokensPerSecond: 0, rejected: {}, budgetLeft: null },
    { key: 'team-a', requests: 23, tokensPerSecond: 2000 / 60, rejected: { tpm: 3 }, budgetLeft: 4000 },
  ]);
  // A window of 30 s starts at the reading 30 s old.
  assert.equal(tenantRows(readings, 30_000)[1]?.requests, 18);
  // One reading: no increase yet.
  assert.deepEqual(tenantRows(readings.slice(0, 1))[1], {
    key: 'team-a',
    requests: null,
    tokensPerSecond: null,
    rejected: {},
    budgetLeft: 5000,
  });
  assert.deepEqual(tenantRows([]), []);
  assert.equal(formatRejected({ tpm: 3, budget: 5, rpm: 3 }), 'budget: 5, rpm: 3, tpm: 3');
  assert.equal(formatRejected({}), '-');
});
