/**
 * A rolling restart while generations outlast --drain-timeout: the proxy cuts them itself, and a cut of its
 * own says nothing about the backends. Before the failure table gave every abort of ours a code, each cut
 * counted as a backend failure, --max-fails of them ejected a healthy backend on every worker, and a repeat
 * doubled the time.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { childrenOf } from '../../support/processes.js';
import { closeAll, longStream, pinnedAgents } from '../helpers/cluster-load.js';
import { CHAT, metricValue, postChat, scrape, startFleetProxy, startMocks } from '../helpers/fleet.js';
import { send } from '../helpers/http.js';

const STREAMS_PER_WORKER = 8;

test('SIGHUP with --drain-timeout 1s while 10 s streams run on two backends: no ejection, both up and serving right after', {
  timeout: 90_000,
}, async (t) => {
  const mocks = await startMocks(t, [{}, {}]);
  const urls = mocks.map((mock) => mock.url);
  const proxy = await startFleetProxy(t, urls, [
    '--workers',
    '2',
    '--routing',
    'round-robin',
    '--drain-timeout',
    '1s',
    // Long enough that a wrong ejection is still in force when the test looks.
    '--fail-timeout',
    '60s',
    '--access-log',
    'off',
  ]);
  const pids = await childrenOf(proxy.child.pid as number);
  const pinned = await pinnedAgents(proxy.url, pids, STREAMS_PER_WORKER);
  t.after(() => closeAll(pinned));
  // Each worker sends 4 streams to each backend: more than --max-fails (3) cuts per backend and worker.
  const streams = [...pinned.values()].flat().map((agent) => longStream(proxy.url, 100, 100, agent));
  await Promise.all(streams.map((stream) => stream.started));
  for (const mock of mocks) assert.equal(mock.stats.completionRequests, STREAMS_PER_WORKER, 'round-robin split them evenly');

  proxy.child.kill('SIGHUP');
  await proxy.waitForLine((line) => line.msg === 'rolling restart finished', 30_000);
  const results = await Promise.all(streams.map((stream) => stream.result));
  for (const result of results) {
    assert.equal(result.status, 200);
    assert.equal(result.text.includes('[DONE]'), false, 'cut at the drain deadline, not finished');
    assert.notEqual(result.error, null, 'the client sees a cut response');
  }

  const health = JSON.parse((await send(`${proxy.url}/healthz`)).text) as { backends: Array<{ url: string; state: string }> };
  assert.deepEqual(
    health.backends.map((backend) => backend.state),
    ['up', 'up'],
  );
  const samples = await scrape(proxy);
  for (const url of urls) {
    assert.equal(metricValue(samples, 'backend_up', { url }), 1, url);
    assert.equal(metricValue(samples, 'backend_ejections_total', { url, reason: 'max_fails' }), 0, url);
    assert.equal(metricValue(samples, 'stream_outcomes_total', { url, endpoint: CHAT, outcome: 'proxy_cut' }), STREAMS_PER_WORKER, url);
    assert.equal(metricValue(samples, 'stream_outcomes_total', { url, endpoint: CHAT, outcome: 'upstream_error' }), 0, url);
  }

  // Both serve right after: each worker's round-robin over two backends that are up gives each at least 4 of 10.
  const before = mocks.map((mock) => mock.stats.completionRequests);
  for (let i = 0; i < 10; i++) assert.equal((await postChat(proxy.url)).status, 200);
  for (const [i, mock] of mocks.entries()) {
    assert.ok(mock.stats.completionRequests - (before[i] as number) >= 4, `${mock.url} serves again`);
  }
});
