/** The rate-limit answers as the official openai SDK reads them: its error classes, codes, headers and retries. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpenAI, { RateLimitError } from 'openai';
import { keysFromList } from '../../src/tenants/key-list.js';
import { send } from '../helpers/http.js';
import { startInProcessProxy } from '../helpers/in-process-proxy.js';
import { startMockBackend } from '../helpers/mock-backend.js';

const MESSAGES = [{ role: 'user' as const, content: 'hello there proxy' }];

test('the openai SDK reads the 429: RateLimitError with the code and headers, and it waits as retry-after-ms says', async (t) => {
  const backend = await startMockBackend(t);
  const { keys } = keysFromList(
    [
      { name: 'team', key: 'team-key', rpm: { requests: 1, per: '3s' } },
      { name: 'small', key: 'small-key', budget: { tokens: 30, per: 'month' } },
    ],
    {},
  );
  const proxy = await startInProcessProxy(t, { 'backend-url': backend.url }, keys);
  const client = (apiKey: string, maxRetries: number) => new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey, maxRetries, timeout: 15_000 });

  const { response } = await client('team-key', 0)
    .chat.completions.create({ model: 'mock-model', messages: MESSAGES, max_tokens: 4 })
    .withResponse();
  assert.equal(response.headers.get('x-ratelimit-limit-requests'), '1');
  assert.equal(response.headers.get('x-ratelimit-remaining-requests'), '0');
  assert.equal(response.headers.get('x-ratelimit-reset-requests'), '3s');

  const refused = await client('team-key', 0)
    .chat.completions.create({ model: 'mock-model', messages: MESSAGES, max_tokens: 4 })
    .then(
      () => null,
      (err: unknown) => err,
    );
  assert.ok(refused instanceof RateLimitError, String(refused));
  assert.equal(refused.status, 429);
  assert.equal(refused.code, 'rate_limit_exceeded');
  assert.equal(refused.type, 'rate_limit_error');
  assert.equal(refused.headers.get('x-ratelimit-remaining-requests'), '0');
  const waitMs = Number(refused.headers.get('retry-after-ms'));
  assert.ok(waitMs > 0 && waitMs <= 3000, String(waitMs));

  // With one retry the SDK sleeps retry-after-ms and succeeds: the backend sees one more request, not two.
  const before = backend.stats.completionRequests;
  const started = performance.now();
  await client('team-key', 1).chat.completions.create({ model: 'mock-model', messages: MESSAGES, max_tokens: 4 });
  assert.equal(backend.stats.completionRequests, before + 1);
  assert.ok(performance.now() - started >= waitMs - 1000, 'the SDK waited for the limit, not its own short backoff');

  // A spent budget: insufficient_quota, and x-should-retry: false stops the SDK's retries at once.
  const quota = await client('small-key', 3)
    .chat.completions.create({ model: 'mock-model', messages: MESSAGES, max_tokens: 50 })
    .then(
      () => null,
      (err: unknown) => err,
    );
  assert.ok(quota instanceof RateLimitError);
  assert.equal(quota.code, 'insufficient_quota');
  assert.equal(quota.type, 'insufficient_quota');
  const metrics = (await send(`${proxy.url}/metrics`)).text;
  assert.match(metrics, /^tenant_requests_total\{key="small",status="429"\} 1$/m);
  assert.match(metrics, /^tenant_requests_total\{key="team",status="429"\} 2$/m);
  assert.match(metrics, /^tenant_requests_total\{key="team",status="200"\} 2$/m);
});
