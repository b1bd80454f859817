import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { promptText } from '../../src/llm/prompt-text.js';
import { parsePromText, sampleValue } from '../../src/metrics/prom-text.js';
import { PrefillSlots } from '../../src/mock-backend/prefill-slots.js';
import type { PrefixCacheOptions } from '../../src/mock-backend/prefill-stage.js';
import { blockCount, blockHashes, PREFIX_BLOCK_BYTES, PrefixCache } from '../../src/mock-backend/prefix-cache.js';
import { eventually } from '../../support/wait.js';
import { startMock } from '../helpers/mock-harness.js';

const TEST = { timeout: 20_000 };
// The benchmark's model (issue 12 point 6): 15 ms, plus 3 ms per uncached block.
const BENCH: PrefixCacheOptions = { cacheBlocks: 64, baseMs: 15, msPerBlock: 3, slots: 4 };
// Timers never fire early, but two clocks read on either side of a socket may disagree by a little.
const CLOCK_SLACK_MS = 2;

function text(model: string, prompt: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model, prompt, max_tokens: 1, ...extra };
}

test('block hashes: one per full block, chained, seeded by the model', () => {
  const prompt = Buffer.from('a'.repeat(3 * PREFIX_BLOCK_BYTES + 10));
  const hashes = blockHashes(prompt, 'm');
  assert.equal(hashes.length, 3, 'the partial last block is not hashed');
  assert.equal(blockCount(prompt.length), 4);
  assert.equal(new Set(hashes).size, 3, 'equal bytes at another position hash apart');
  assert.deepEqual(blockHashes(prompt.subarray(0, 2 * PREFIX_BLOCK_BYTES), 'm'), hashes.slice(0, 2));
  assert.notEqual(blockHashes(prompt, 'n')[0], hashes[0]);
  const changedFirst = Buffer.from(prompt);
  changedFirst[0] = 0x62;
  assert.ok(
    blockHashes(changedFirst, 'm').every((hash, i) => hash !== hashes[i]),
    'a change in a block changes every hash after it',
  );
});

test('LRU: a block counts only behind cached blocks; a prompt is stored tail first, so tails are evicted first', () => {
  const cache = new PrefixCache(4);
  const p1 = blockHashes(Buffer.from('x'.repeat(4 * PREFIX_BLOCK_BYTES)), 'm');
  const p2 = blockHashes(Buffer.from('y'.repeat(2 * PREFIX_BLOCK_BYTES)), 'm');
  cache.store(p1);
  assert.deepEqual([cache.cachedPrefix(p1), cache.size], [4, 4]);
  cache.store(p2);
  assert.deepEqual([cache.cachedPrefix(p2), cache.cachedPrefix(p1), cache.size], [2, 2, 4]);
  assert.equal(cache.cachedPrefix(['not cached', p1[0] as string]), 0, 'a miss ends the prefix, whatever follows it');
  const none = new PrefixCache(0);
  none.store(p1);
  assert.deepEqual([none.cachedPrefix(p1), none.size], [0, 0]);
});

test('prefill slots: first come, first served; a waiter that gives up leaves the queue', () => {
  const slots = new PrefillSlots(1);
  const order: string[] = [];
  slots.acquire(() => order.push('a'));
  slots.acquire(() => order.push('b'));
  const withdrawC = slots.acquire(() => order.push('c'));
  slots.acquire(() => order.push('d'));
  assert.deepEqual([order, slots.waiting], [['a'], 3]);
  withdrawC();
  slots.release();
  slots.release();
  assert.deepEqual([order, slots.waiting], [['a', 'b', 'd'], 0]);
  slots.release();
  slots.acquire(() => order.push('e'));
  assert.deepEqual(order, ['a', 'b', 'd', 'e']);
});

test('a known sequence of prompts gives exact hits and queries, on /metrics and in stats', TEST, async (t) => {
  const { backend, post, get } = await startMock(t, { prefixCache: BENCH, models: ['m', 'n'] });
  const a = 'a'.repeat(1000); // 3 full blocks and a partial one
  const prompts: Array<[string, string, number]> = [
    ['m', a, 0], // cold
    ['m', a, 3], // the full blocks again; the partial one is never cached
    ['m', `${a.slice(0, 512)}${'b'.repeat(488)}`, 2], // shares two blocks
    ['m', `c${a.slice(1)}`, 0], // blocks 2 and 3 hold the same bytes as a's, but behind another first block
    ['n', a, 0], // another model, another cache
  ];
  for (const [model, prompt, hits] of prompts) {
    const before = backend.stats.prefixCache.hits;
    const res = await post('/v1/completions', text(model, prompt));
    assert.equal(res.statusCode, 200);
    await res.body.dump();
    assert.equal(backend.stats.prefixCache.hits - before, hits, `${model}: ${prompt.slice(0, 3)}...`);
  }
  assert.deepEqual(backend.stats.prefixCache, { queries: 20, hits: 5, waiting: 0, running: 0, cachedBlocks: 3 + 1 + 3 + 3 });
  const metrics = await get('/metrics');
  assert.equal(metrics.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  const exposition = await metrics.body.text();
  assert.match(exposition, /^# HELP vllm:prefix_cache_queries_total Prompt blocks \(256 bytes of prompt text\)/m);
  assert.match(exposition, /^# TYPE vllm:prefix_cache_hits_total counter$/m);
  const samples = parsePromText(exposition);
  // vLLM's labels on vLLM's names, none on the mock's own.
  const vllm = { engine: '0', model_name: 'm' };
  assert.deepEqual(
    [
      sampleValue(samples, 'vllm:prefix_cache_queries_total', vllm),
      sampleValue(samples, 'vllm:prefix_cache_hits_total', vllm),
      sampleValue(samples, 'vllm:num_requests_waiting', vllm),
      sampleValue(samples, 'mock_prefill_running'),
      sampleValue(samples, 'mock_prefix_cache_blocks'),
    ],
    [20, 5, 0, 0, 10],
  );
});

test('chat: requests sharing a system prompt hit on the blocks the shared turns fill', TEST, async (t) => {
  const { backend, post } = await startMock(t, { prefixCache: BENCH });
  const system = { role: 'system', content: 's'.repeat(600) };
  const body = (question: string): Record<string, unknown> => ({
    model: 'mock-model',
    max_tokens: 1,
    messages: [system, { role: 'user', content: question }],
  });
  const first = promptText('chat', body('first question'), Number.POSITIVE_INFINITY);
  const second = promptText('chat', body('second question'), Number.POSITIVE_INFINITY);
  let shared = 0;
  while (first[shared] === second[shared]) shared++;
  for (const question of ['first question', 'second question']) await (await post('/v1/chat/completions', body(question))).body.dump();
  assert.deepEqual(
    [backend.stats.prefixCache.hits, backend.stats.prefixCache.queries],
    [Math.floor(shared / PREFIX_BLOCK_BYTES), blockCount(first.length) + blockCount(second.length)],
  );
  assert.equal(Math.floor(shared / PREFIX_BLOCK_BYTES), 2, 'the 647 shared bytes fill two blocks');
});

test('time to first token: headers at once, the first token no sooner than base + cost x uncached blocks', TEST, async (t) => {
  const { post } = await startMock(t, { prefixCache: { cacheBlocks: 64, baseMs: 40, msPerBlock: 25, slots: 4 } });
  const prompt = Array.from({ length: 4 * 64 }, (_, i) => i); // token ids: 4 bytes each, 4 full blocks
  const firstToken = async (): Promise<{ headersMs: number; tokenMs: number }> => {
    const startedMs = performance.now();
    const res = await post('/v1/completions', text('mock-model', prompt, { stream: true }));
    const headersMs = performance.now() - startedMs;
    const chunks = res.body[Symbol.asyncIterator]();
    let received = '';
    while (!received.includes(' tok0')) received += (await chunks.next()).value;
    const tokenMs = performance.now() - startedMs;
    await res.body.dump();
    return { headersMs, tokenMs };
  };
  const cold = await firstToken();
  assert.ok(cold.headersMs < cold.tokenMs, 'the stream head comes before the first token');
  assert.ok(cold.tokenMs >= 40 + 25 * 4 - CLOCK_SLACK_MS, `cold: ${cold.tokenMs} ms`);
  const warm = await firstToken();
  // Every block is cached now; the lower bound is the base alone.
  assert.ok(warm.tokenMs >= 40 - CLOCK_SLACK_MS, `warm: ${warm.tokenMs} ms`);
});

test('with one prefill slot, two requests are prefilled one after the other; a waiter that leaves frees its place', TEST, async (t) => {
  const { backend, post, get } = await startMock(t, { prefixCache: { cacheBlocks: 0, baseMs: 300, slots: 1 } });
  const finished: string[] = [];
  const send = (name: string): Promise<number> =>
    post('/v1/completions', text('mock-model', name)).then(async (res) => {
      await res.body.dump();
      finished.push(name);
      return performance.now();
    });
  const first = send('first');
  await eventually('the first in prefill', () => backend.stats.prefixCache.running === 1);
  const second = send('second');
  await eventually('the second waiting', () => backend.stats.prefixCache.waiting === 1);
  assert.deepEqual([backend.stats.prefixCache.running, finished], [1, []]);
  // Waiting for a prefill slot is waiting, as in vLLM; the one in prefill is running.
  const samples = parsePromText(await (await get('/metrics')).body.text());
  const vllm = { engine: '0', model_name: 'mock-model' };
  assert.deepEqual(
    [sampleValue(samples, 'vllm:num_requests_waiting', vllm), sampleValue(samples, 'vllm:num_requests_running', vllm)],
    [1, 1],
  );
  const [firstDoneMs, secondDoneMs] = await Promise.all([first, second]);
  assert.deepEqual(finished, ['first', 'second']);
  assert.ok(secondDoneMs - firstDoneMs >= 300 - CLOCK_SLACK_MS, 'the second prefill started when the first ended');

  const holder = send('holder');
  await eventually('the holder in prefill', () => backend.stats.prefixCache.running === 1);
  const controller = new AbortController();
  const leaver = request(`${backend.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(text('mock-model', 'leaver')),
    signal: controller.signal,
  }).then(
    () => 'answered',
    () => 'aborted',
  );
  await eventually('the leaver waiting', () => backend.stats.prefixCache.waiting === 1);
  controller.abort();
  assert.equal(await leaver, 'aborted');
  await eventually('the leaver out of the queue', () => backend.stats.prefixCache.waiting === 0);
  await holder;
  await send('next');
  assert.deepEqual(finished, ['first', 'second', 'holder', 'next']);
  assert.deepEqual(
    backend.stats.prefixCache,
    { queries: 4, hits: 0, waiting: 0, running: 0, cachedBlocks: 0 },
    'the leaver was never prefilled',
  );
});
