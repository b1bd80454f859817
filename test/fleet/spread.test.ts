import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ROUTING_POLICIES } from '../../src/routing/policy-registry.js';
import { CHAT, metricValue, postChat, scrape, startFleetProxy, startMocks } from '../helpers/fleet.js';

const TEST = { timeout: 60_000 };
const REQUESTS = 60;

// Every policy, through the real proxy: three equal backends share sequential traffic evenly (prefix: one
// prompt, one home), and the per-backend metrics add up exactly to the requests sent.
for (const { name: policy, key, exactShares } of ROUTING_POLICIES) {
  test(
    `--routing ${policy}: three equal backends and sequential requests: each backend's share as the policy says, and the per-backend counts add up`,
    TEST,
    async (t) => {
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
      // Sequential requests on one worker: a policy with exact shares is exact (least-load: all at 0, ties go
      // round), and so is one keyed by session (these requests name no session: least-load decides). Keyed by
      // prefix: they all send the same prompt, so they all go to its home. The others draw.
      if (key === 'prefix')
        assert.deepEqual(
          [...received].sort((a, b) => a - b),
          [0, 0, REQUESTS],
        );
      else if (exactShares || key === 'session') assert.deepEqual(received, [20, 20, 20]);
      else for (const count of received) assert.ok(count >= 8 && count <= 32, `${received}`);
      const samples = await scrape(proxy);
      mocks.forEach((mock, i) => {
        const labels = { url: mock.url, endpoint: CHAT };
        assert.equal(metricValue(samples, 'input_requests_total', labels), received[i]);
        assert.equal(metricValue(samples, 'output_requests_total', { ...labels, status: '200' }), received[i]);
        assert.equal(metricValue(samples, 'request_duration_seconds_count', labels), received[i]);
      });
    },
  );
}
