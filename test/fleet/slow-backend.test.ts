import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inParallel, postChat, startFleetProxy, startMocks } from '../helpers/fleet.js';

test('least-load: a slow backend (500 ms a request) beside two fast ones gets at most 15% of 16 concurrent clients’ requests', {
  timeout: 60_000,
}, async (t) => {
  const [slow, ...fast] = await startMocks(t, [{ ttftMs: 500 }, { ttftMs: 20 }, { ttftMs: 20 }]);
  const mocks = [slow, ...fast];
  // Two workers: each sees the other's requests in progress through the primary.
  const proxy = await startFleetProxy(
    t,
    mocks.map((mock) => mock!.url),
    ['--workers', '2', '--routing', 'least-load'],
  );
  const statuses = await inParallel(240, 16, async () => (await postChat(proxy.url)).status);
  assert.deepEqual([...new Set(statuses)], [200]);
  const slowShare = slow!.stats.completionRequests / 240;
  assert.ok(slowShare <= 0.15, `the slow backend got ${slow!.stats.completionRequests} of 240`);
  assert.equal(
    mocks.reduce((total, mock) => total + mock!.stats.completionRequests, 0),
    240,
  );
});
