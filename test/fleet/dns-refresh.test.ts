import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMockBackend, type MockBackend } from '../../src/mock-backend/create-mock-backend.js';
import { eventually } from '../../support/wait.js';
import { startDnsServer } from '../helpers/dns-server.js';
import { metricValue, postChat, scrape, startFleetProxy } from '../helpers/fleet.js';
import { send } from '../helpers/http.js';

const ADDRESSES = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];

test('--dns-refresh: a name with several addresses is one backend per address, following the addresses as they change', {
  timeout: 60_000,
}, async (t) => {
  // One port on three loopback addresses, like the pods behind a headless Service.
  const first = await createMockBackend({ host: ADDRESSES[0], port: 0 });
  const mocks: MockBackend[] = [first];
  for (const host of ADDRESSES.slice(1)) mocks.push(await createMockBackend({ host, port: first.port }));
  t.after(() => Promise.all(mocks.map((mock) => mock.close())));
  const dns = await startDnsServer(t);
  dns.set('llm.test', ADDRESSES.slice(0, 2));
  const proxy = await startFleetProxy(
    t,
    [`http://llm.test:${first.port}`],
    ['--workers', '1', '--routing', 'round-robin', '--slow-start', '0', '--dns-refresh', '100', '--dns-server', dns.address],
  );
  const urlsOf = (hosts: string[]) => hosts.map((host) => `http://${host}:${first.port}`);
  const backends = async () =>
    (JSON.parse((await send(`${proxy.url}/healthz`)).text) as { backends: Array<{ url: string }> }).backends.map((b) => b.url);
  assert.deepEqual(await backends(), urlsOf(ADDRESSES.slice(0, 2)), 'resolved before the first request');
  for (let i = 0; i < 4; i++) assert.equal((await postChat(proxy.url)).status, 200);
  assert.deepEqual(
    mocks.map((mock) => mock.stats.completionRequests),
    [2, 2, 0],
  );
  assert.equal(mocks[0]?.stats.lastRequest?.headers.host, `llm.test:${first.port}`, 'the Host header keeps the name');

  dns.set('llm.test', ADDRESSES);
  await eventually('a third address', backends, (urls) => urls.length === 3);
  for (let i = 0; i < 6; i++) assert.equal((await postChat(proxy.url)).status, 200);
  assert.ok((mocks[2]?.stats.completionRequests ?? 0) > 0, 'the new address gets traffic');

  dns.set('llm.test', [ADDRESSES[1] as string]);
  await eventually('one address left', backends, (urls) => urls.length === 1);
  assert.deepEqual(await backends(), urlsOf([ADDRESSES[1] as string]));
  const before = mocks.map((mock) => mock.stats.completionRequests);
  for (let i = 0; i < 4; i++) assert.equal((await postChat(proxy.url)).status, 200);
  assert.deepEqual(
    mocks.map((mock, i) => mock.stats.completionRequests - (before[i] as number)),
    [0, 4, 0],
  );
  // Each address is its own url label value.
  const samples = await scrape(proxy);
  assert.ok(
    metricValue(samples, 'output_requests_total', {
      url: urlsOf([ADDRESSES[0] as string])[0] as string,
      endpoint: '/v1/chat/completions',
      status: '200',
    }) >= 2,
  );
});
