import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ROUTING_POLICIES } from '../../src/config/types.js';
import { CHAT, metricValue, postChat, scrape, startFleetProxy, startMocks } from '../helpers/fleet.js';

const TEST = { timeout: 60_000 };
const REQUESTS = 60;

// Every policy, through the real proxy: three equal backends share sequential traffic evenly, and the
// per-backend metrics add up exactly to the requests sent.
for (const policy of ROUTING_POLICIES) {
  test(`--routing ${policy}: three equal backends share the requests, and the per-backend counts add up`, TEST, async (t) => {
    const mocks = await startMocks(t, [{}, {}, {}]);
    const proxy = await startFleetProxy(
      t,
      mocks.map((mock) => mock.url),
      ['--workers', '1', '--routing', policy],
    );
    for (let i = 0; i < REQUESTS; i++) assert.equal((await postChat(proxy.url)).status, 200);
    const received = mocks.map((mock) => mock.stats.completionRequests);
    assert.equal(
      received.reduce((a, b) => a + b, 0),
      REQUESTS,
    );
    // Sequential requests on one worker: round-robin and least-load (all at 0, ties go round) are exact, and
    // so is session (these requests name no session: least load). Prefix: every request has the same prompt,
    // so its home takes them all (one at a time, never over the bound).
    if (policy === 'random') for (const count of received) assert.ok(count >= 8 && count <= 32, `${received}`);
    else if (policy === 'prefix')
      assert.deepEqual(
        [...received].sort((a, b) => a - b),
        [0, 0, REQUESTS],
      );
    else assert.deepEqual(received, [20, 20, 20]);
    const samples = await scrape(proxy);
    mocks.forEach((mock, i) => {
      const labels = { url: mock.url, endpoint: CHAT };
      assert.equal(metricValue(samples, 'input_requests_total', labels), received[i]);
      assert.equal(metricValue(samples, 'output_requests_total', { ...labels, status: '200' }), received[i]);
      assert.equal(metricValue(samples, 'request_duration_seconds_count', labels), received[i]);
    });
  });
}
