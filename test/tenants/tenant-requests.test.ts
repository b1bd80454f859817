import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { ADMIN_ROUTES } from '../../src/tenants/admin-routes.js';
import { keysFromList } from '../../src/tenants/key-list.js';
import { eventually } from '../../support/wait.js';
import { call, chatBody, openStream, send } from '../helpers/http.js';
import { startInProcessProxy } from '../helpers/in-process-proxy.js';
import { startMockBackend } from '../helpers/mock-backend.js';

const auth = (key: string): Record<string, string> => ({ authorization: `Bearer ${key}`, 'content-type': 'application/json' });

/** A proxy in this process in front of one mock backend serving two models, with these keys. */
async function proxyWith(t: TestContext, entries: unknown[], flags: Record<string, string> = {}) {
  const backend = await startMockBackend(t);
  backend.control({ models: ['llama-3-8b', 'mistral-7b'] });
  const { keys } = keysFromList(entries, {});
  const proxy = await startInProcessProxy(t, { 'backend-url': backend.url, 'discovery-interval': '60s', ...flags }, keys);
  // The model list is read once at start: wait for it, so that /v1/models has both.
  await eventually(
    'models discovered',
    () => proxy.fleet.backends.modelCards.length,
    (n) => n === 2,
  );
  return { backend, proxy };
}

async function metricLines(url: string, prefix: string): Promise<string[]> {
  const text = (await send(`${url}/metrics`)).text;
  return text.split('\n').filter((line) => line.startsWith(prefix));
}

test('a key without a known bearer token gets 401; a named key lists and uses only its models', async (t) => {
  const { proxy } = await proxyWith(t, [
    { name: 'team-a', key: 'key-a', models: ['llama-*'] },
    { name: 'team-b', key: 'key-b' },
  ]);
  assert.equal((await call(`${proxy.url}/v1/models`)).status, 401);
  assert.equal((await call(`${proxy.url}/v1/models`, { headers: auth('key-zzz') })).status, 401);
  const listA = JSON.parse((await call(`${proxy.url}/v1/models`, { headers: auth('key-a') })).text) as { data: Array<{ id: string }> };
  assert.deepEqual(
    listA.data.map((card) => card.id),
    ['llama-3-8b'],
  );
  const listB = JSON.parse((await call(`${proxy.url}/v1/models`, { headers: auth('key-b') })).text) as { data: Array<{ id: string }> };
  assert.deepEqual(listB.data.map((card) => card.id).sort(), ['llama-3-8b', 'mistral-7b']);
  const allowed = await call(`${proxy.url}/v1/chat/completions`, { headers: auth('key-a'), body: chatBody({ model: 'llama-3-8b' }) });
  assert.equal(allowed.status, 200);
  const refused = await call(`${proxy.url}/v1/chat/completions`, { headers: auth('key-a'), body: chatBody({ model: 'mistral-7b' }) });
  assert.equal(refused.status, 403);
  assert.deepEqual(JSON.parse(refused.text), {
    error: { message: 'the key may not use the model "mistral-7b"', type: 'invalid_request_error', code: 'model_not_allowed' },
  });
  // Other endpoints with a body are read for their model too: embeddings, and a multipart form.
  const embeddings = await call(`${proxy.url}/v1/embeddings`, {
    headers: auth('key-a'),
    body: JSON.stringify({ model: 'mistral-7b', input: 'x' }),
  });
  assert.equal(embeddings.status, 403);
  const form = ['--b', 'Content-Disposition: form-data; name="model"', '', 'mistral-7b', '--b--', ''].join('\r\n');
  const audio = await call(`${proxy.url}/v1/audio/transcriptions`, {
    headers: { authorization: 'Bearer key-a', 'content-type': 'multipart/form-data; boundary=b' },
    body: form,
  });
  assert.equal(audio.status, 403);
  const nameless = await call(`${proxy.url}/v1/embeddings`, { headers: auth('key-a'), body: JSON.stringify({ input: 'x' }) });
  assert.equal(JSON.parse(nameless.text).error.message, 'the request names no model');
  assert.deepEqual(await metricLines(proxy.url, 'ratelimit_rejected_total{key="team-a",limit="model"}'), [
    'ratelimit_rejected_total{key="team-a",limit="model"} 4',
  ]);
  assert.deepEqual(await metricLines(proxy.url, 'tenant_requests_total{key="team-a"'), [
    'tenant_requests_total{key="team-a",status="200"} 2',
    'tenant_requests_total{key="team-a",status="403"} 4',
  ]);
});

test('every engine admin route is refused for a key without admin: true, and forwarded for one with it', async (t) => {
  const { backend, proxy } = await proxyWith(t, [
    { name: 'user', key: 'key-user' },
    { name: 'root', key: 'key-root', admin: true },
  ]);
  for (const { path } of ADMIN_ROUTES) {
    for (const target of [path, `/inference${path}`, `${path}/`, path.replace('_', '%5F')]) {
      const before = backend.stats.requests;
      const refused = await call(`${proxy.url}${target}`, { method: 'POST', headers: auth('key-user'), body: '{}' });
      assert.equal(refused.status, 403, `${target} as user`);
      assert.equal(JSON.parse(refused.text).error.code, 'admin_route_forbidden');
      assert.equal(backend.stats.requests, before, `${target} never reached the backend`);
    }
    const forwarded = await call(`${proxy.url}${path}`, { method: 'POST', headers: auth('key-root'), body: '{}' });
    assert.equal(forwarded.status, 404, `${path} as root reaches the backend (which has no such route)`);
    assert.equal(backend.stats.lastRequest?.url, path);
  }
});

test('--allow-admin-routes opens the admin routes to a deployment without keys; without it they are closed', async (t) => {
  const backend = await startMockBackend(t);
  const closed = await startInProcessProxy(t, { 'backend-url': backend.url });
  const open = await startInProcessProxy(t, { 'backend-url': backend.url, 'allow-admin-routes': 'on' });
  for (const { path } of ADMIN_ROUTES) {
    assert.equal((await call(`${closed.url}${path}`, { method: 'POST', body: '{}' })).status, 403, path);
    assert.equal((await call(`${open.url}${path}`, { method: 'POST', body: '{}' })).status, 404, path);
  }
});

test('rpm: a 429 in OpenAI shape with Retry-After and the x-ratelimit headers; successes carry them too', async (t) => {
  const { proxy } = await proxyWith(t, [{ name: 'team-a', key: 'key-a', rpm: 2, tpm: 100_000 }]);
  const first = await call(`${proxy.url}/v1/chat/completions`, { headers: auth('key-a'), body: chatBody({ model: 'llama-3-8b' }) });
  assert.equal(first.status, 200);
  assert.equal(first.headers['x-ratelimit-limit-requests'], '2');
  assert.equal(first.headers['x-ratelimit-remaining-requests'], '1');
  assert.equal(first.headers['x-ratelimit-reset-requests'], '30s');
  assert.equal(first.headers['x-ratelimit-limit-tokens'], '100000');
  assert.equal((await call(`${proxy.url}/version`, { headers: auth('key-a') })).headers['x-ratelimit-remaining-requests'], '0');
  const refused = await call(`${proxy.url}/v1/chat/completions`, { headers: auth('key-a'), body: chatBody({ model: 'llama-3-8b' }) });
  assert.equal(refused.status, 429);
  const body = JSON.parse(refused.text) as { error: Record<string, string> };
  assert.deepEqual(body, {
    error: { message: 'rate limit reached for requests (2 per 1m0s)', type: 'rate_limit_error', code: 'rate_limit_exceeded' },
  });
  const retryAfter = Number(refused.headers['retry-after']);
  assert.ok(retryAfter >= 29 && retryAfter <= 30, `retry-after ${retryAfter}`);
  assert.ok(Number(refused.headers['retry-after-ms']) <= 30_000);
  assert.equal(refused.headers['x-ratelimit-remaining-requests'], '0');
  assert.equal(refused.headers['x-should-retry'], undefined);
  assert.deepEqual(await metricLines(proxy.url, 'ratelimit_rejected_total{key="team-a",limit="rpm"}'), [
    'ratelimit_rejected_total{key="team-a",limit="rpm"} 1',
  ]);
});

test('tpm: reservations are settled with the real usage, and a request larger than the limit is told not to retry', async (t) => {
  // 1000 tokens per hour: the refill over the test (under a token a few seconds) does not change the figures.
  const { proxy } = await proxyWith(t, [{ name: 'team-a', key: 'key-a', tpm: { tokens: 1000, per: '1h' } }]);
  const body = chatBody({ model: 'llama-3-8b', max_tokens: 400 });
  const reserve = Math.ceil(Buffer.byteLength(body) / 4) + 400;
  const first = await call(`${proxy.url}/v1/chat/completions`, { headers: auth('key-a'), body });
  assert.equal(first.status, 200);
  // The reservation stands while the request runs; the header says what was left at admission.
  assert.equal(first.headers['x-ratelimit-remaining-tokens'], String(1000 - reserve));
  const usage = (JSON.parse(first.text) as { usage: { prompt_tokens: number; completion_tokens: number } }).usage;
  const used = usage.prompt_tokens + usage.completion_tokens;
  // After the settle only the real usage counts: the next admission sees 1000 - used - its own reservation.
  const second = await eventually(
    'settled',
    () => call(`${proxy.url}/v1/chat/completions`, { headers: auth('key-a'), body }),
    (res) => res.status === 200,
  );
  const left = Number(second.headers['x-ratelimit-remaining-tokens']);
  assert.ok(left >= 1000 - used - reserve && left <= 1000 - used - reserve + 1, `left ${left}, used ${used}, reserve ${reserve}`);
  const huge = await call(`${proxy.url}/v1/chat/completions`, {
    headers: auth('key-a'),
    body: chatBody({ model: 'llama-3-8b', max_tokens: 5000 }),
  });
  assert.equal(huge.status, 429);
  assert.equal(huge.headers['x-should-retry'], 'false');
  assert.equal(huge.headers['retry-after'], undefined);
  assert.match(JSON.parse(huge.text).error.message, /^the request needs \d+ tokens, more than the key's limit of 1000 per 1h0m0s$/);
});

test('a spent budget answers 429 insufficient_quota; max_parallel counts requests in progress', async (t) => {
  const { proxy } = await proxyWith(t, [
    { name: 'small', key: 'key-small', budget: { tokens: 120, per: 'day' } },
    { name: 'narrow', key: 'key-narrow', max_parallel: 1 },
  ]);
  const body = chatBody({ model: 'llama-3-8b', max_tokens: 50 });
  assert.equal((await call(`${proxy.url}/v1/chat/completions`, { headers: auth('key-small'), body })).status, 200);
  await eventually(
    'budget settled',
    () => [...proxy.limits.budgets()],
    (budgets) => (budgets[0]?.[1] ?? 0) < 120,
  );
  const spent = await call(`${proxy.url}/v1/chat/completions`, { headers: auth('key-small'), body });
  assert.equal(spent.status, 429);
  const error = (JSON.parse(spent.text) as { error: Record<string, string> }).error;
  assert.equal(error.code, 'insufficient_quota');
  assert.equal(error.type, 'insufficient_quota');
  assert.equal(spent.headers['x-should-retry'], 'false');
  assert.match(error.message, /renews at \d{4}-\d\d-\d\dT00:00:00\.000Z$/);
  // One slow stream holds the only slot; a second request waits for nothing and is refused.
  const slow = await openStream(`${proxy.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...auth('key-narrow'), 'x-mock-token-delay-ms': '50' },
    body: chatBody({ model: 'llama-3-8b', stream: true, max_tokens: 20 }),
  });
  assert.equal(slow.status, 200);
  const second = await call(`${proxy.url}/v1/chat/completions`, { headers: auth('key-narrow'), body });
  assert.equal(second.status, 429);
  assert.equal(JSON.parse(second.text).error.code, 'rate_limit_exceeded');
  assert.equal(second.headers['retry-after'], '1');
  await slow.rest;
  await eventually(
    'the slot is free again',
    () => call(`${proxy.url}/v1/chat/completions`, { headers: auth('key-narrow'), body }),
    (res) => res.status === 200,
  );
  assert.deepEqual(await metricLines(proxy.url, 'ratelimit_rejected_total{key='), [
    'ratelimit_rejected_total{key="small",limit="rpm"} 0',
    'ratelimit_rejected_total{key="small",limit="tpm"} 0',
    'ratelimit_rejected_total{key="small",limit="parallel"} 0',
    'ratelimit_rejected_total{key="small",limit="budget"} 1',
    'ratelimit_rejected_total{key="small",limit="model"} 0',
    'ratelimit_rejected_total{key="narrow",limit="rpm"} 0',
    'ratelimit_rejected_total{key="narrow",limit="tpm"} 0',
    'ratelimit_rejected_total{key="narrow",limit="parallel"} 1',
    'ratelimit_rejected_total{key="narrow",limit="budget"} 0',
    'ratelimit_rejected_total{key="narrow",limit="model"} 0',
  ]);
});

test('a stream cancelled halfway is charged the prompt and the tokens it was sent, not its max_tokens', async (t) => {
  const { proxy } = await proxyWith(t, [{ name: 'team-a', key: 'key-a', budget: { tokens: 100_000, per: 'month' } }]);
  const body = chatBody({ model: 'llama-3-8b', stream: true, max_tokens: 2000 });
  const stream = await openStream(`${proxy.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...auth('key-a'), 'x-mock-token-delay-ms': '20' },
    body,
  });
  assert.equal(stream.status, 200);
  // Let a few tokens through, then leave.
  await new Promise((resolve) => setTimeout(resolve, 200));
  stream.leave();
  await stream.rest;
  const charged = await eventually(
    'the cancelled stream is settled',
    () => 100_000 - ([...proxy.limits.budgets()][0]?.[1] ?? 0),
    (spent) => spent < Math.ceil(Buffer.byteLength(body) / 4) + 2000,
  );
  const [completion] = await metricLines(proxy.url, 'tenant_tokens_total{key="team-a",kind="completion"}');
  const generated = Number(completion?.split(' ')[1]);
  assert.ok(generated > 0 && generated < 2000, `generated ${generated}`);
  // No usage chunk came (the stream was cut): the prompt is charged at its estimate, the answer as sent.
  assert.equal(charged, Math.ceil(Buffer.byteLength(body) / 4) + generated);
  assert.deepEqual(await metricLines(proxy.url, 'tenant_requests_total{key="team-a"'), [
    'tenant_requests_total{key="team-a",status="499"} 1',
  ]);
});

test('keys from --api-key still work, as one tenant without limits, beside the named keys', async (t) => {
  const { proxy } = await proxyWith(t, [{ name: 'team-a', key: 'secret-team-key', rpm: 100 }], { 'api-key': 'legacy-key' });
  assert.equal(
    (await call(`${proxy.url}/v1/chat/completions`, { headers: auth('legacy-key'), body: chatBody({ model: 'mistral-7b' }) })).status,
    200,
  );
  assert.equal(
    (await call(`${proxy.url}/v1/chat/completions`, { headers: auth('secret-team-key'), body: chatBody({ model: 'mistral-7b' }) })).status,
    200,
  );
  assert.deepEqual(await metricLines(proxy.url, 'tenant_requests_total{'), [
    'tenant_requests_total{key="team-a",status="200"} 1',
    'tenant_requests_total{key="api-key",status="200"} 1',
  ]);
  assert.deepEqual(await metricLines(proxy.url, 'tenant_tokens_total{'), [
    'tenant_tokens_total{key="team-a",kind="prompt"} 3',
    'tenant_tokens_total{key="team-a",kind="completion"} 4',
    'tenant_tokens_total{key="api-key",kind="prompt"} 3',
    'tenant_tokens_total{key="api-key",kind="completion"} 4',
  ]);
});
