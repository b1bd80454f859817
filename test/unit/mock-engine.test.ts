import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Agent, request } from 'undici';
import { type PromSamples, parsePromText, sampleValue } from '../../src/metrics/prom-text.js';
import { EngineScheduler, emptyEngineStats, KV_BLOCK_TOKENS, WAITING_TIME_BUCKETS } from '../../src/mock-backend/engine-scheduler.js';
import { eventually } from '../../support/wait.js';
import { type MockHarness, startMock } from '../helpers/mock-harness.js';

const TEST = { timeout: 20_000 };
const VLLM_LABELS = { engine: '0', model_name: 'mock-model' };

/** A scheduler on a clock the test moves by hand. */
function scheduler(options: ConstructorParameters<typeof EngineScheduler>[0]) {
  const clock = { ms: 0 };
  const stats = emptyEngineStats();
  return { engine: new EngineScheduler(options, stats, () => clock.ms), stats, clock };
}

test('slots: at most max-num-seqs run, the rest wait in arrival order; leaving the queue or a slot lets the next in', () => {
  const { engine, stats } = scheduler({ maxNumSeqs: 2 });
  const started: string[] = [];
  const seq = (name: string) => engine.admit({ tokens: 10, priority: 0 }, () => started.push(name));
  const a = seq('a');
  seq('b');
  const c = seq('c');
  seq('d');
  assert.deepEqual([started, stats.running, stats.waiting], [['a', 'b'], 2, 2]);
  c();
  assert.deepEqual([started, stats.waiting], [['a', 'b'], 1], 'a waiter that leaves takes no slot');
  a();
  a();
  assert.deepEqual([started, stats.running, stats.waiting, stats.admitted], [['a', 'b', 'd'], 2, 0, 3], 'a release counts once');
});

test('KV: a sequence reserves its whole length in 16-token blocks; a head that does not fit holds back those behind it', () => {
  const { engine, stats } = scheduler({ maxNumSeqs: 8, kvCacheTokens: 10 * KV_BLOCK_TOKENS });
  const started: string[] = [];
  const big = engine.admit({ tokens: 6 * KV_BLOCK_TOKENS, priority: 0 }, () => started.push('big'));
  engine.admit({ tokens: 5 * KV_BLOCK_TOKENS, priority: 0 }, () => started.push('next'));
  engine.admit({ tokens: 1, priority: 0 }, () => started.push('small'));
  assert.deepEqual([started, stats.kvBlocksUsed, stats.kvBlocks, engine.kvUsage()], [['big'], 6, 10, 0.6]);
  assert.equal(stats.waiting, 2, 'the small one fits, but waits behind the head (first come, first served)');
  big();
  assert.deepEqual([started, stats.kvBlocksUsed, engine.kvUsage()], [['big', 'next', 'small'], 6, 0.6]);
  assert.equal(engine.maxTokens, 10 * KV_BLOCK_TOKENS);
});

test('KV defaults: 2,048 tokens per slot; no slot limit, no KV limit', () => {
  assert.equal(scheduler({ maxNumSeqs: 4 }).engine.maxTokens, 4 * 2048);
  const unlimited = scheduler({});
  assert.equal(unlimited.engine.maxTokens, Number.POSITIVE_INFINITY);
  for (let i = 0; i < 1000; i++) unlimited.engine.admit({ tokens: 1_000_000, priority: 0 }, () => undefined);
  assert.deepEqual([unlimited.stats.running, unlimited.stats.waiting, unlimited.engine.kvUsage()], [1000, 0, 0]);
});

test('priority policy: the lowest priority value goes first, then arrival; fcfs keeps arrival order', () => {
  for (const [policy, expected] of [
    ['priority', ['hold', 'urgent', 'first', 'second', 'late']],
    ['fcfs', ['hold', 'first', 'late', 'urgent', 'second']],
  ] as const) {
    const { engine } = scheduler({ maxNumSeqs: 1, schedulingPolicy: policy });
    const started: string[] = [];
    const releases = new Map<string, () => void>();
    const seq = (name: string, priority: number) =>
      releases.set(
        name,
        engine.admit({ tokens: 1, priority }, () => started.push(name)),
      );
    for (const [name, priority] of [
      ['hold', 0],
      ['first', 0],
      ['late', 5],
      ['urgent', -1],
      ['second', 0],
    ] as const)
      seq(name, priority);
    // Each one that runs ends in turn, letting the next in.
    while (started.length < 5) releases.get(started.at(-1) as string)?.();
    assert.deepEqual(started, expected, policy);
  }
});

test('time integrals: slot-milliseconds, queue-milliseconds and the time spent at each queue length', () => {
  const { engine, stats, clock } = scheduler({ maxNumSeqs: 1 });
  const first = engine.admit({ tokens: 1, priority: 0 }, () => undefined);
  clock.ms = 100;
  const second = engine.admit({ tokens: 1, priority: 0 }, () => undefined);
  clock.ms = 250;
  first();
  clock.ms = 300;
  second();
  clock.ms = 400;
  engine.refresh();
  assert.deepEqual([stats.runningMs, stats.waitingMs], [300, 150]);
  assert.deepEqual(stats.waitingTimeMs.slice(0, 3), [250, 150, 0]);
  assert.equal(stats.waitingTimeMs.length, WAITING_TIME_BUCKETS + 1);
});

async function metricsOf(mock: MockHarness): Promise<PromSamples> {
  return parsePromText(await (await mock.get('/metrics')).body.text());
}

function engineGauges(samples: PromSamples): [number | undefined, number | undefined, number | undefined] {
  return [
    sampleValue(samples, 'vllm:num_requests_running', VLLM_LABELS),
    sampleValue(samples, 'vllm:num_requests_waiting', VLLM_LABELS),
    sampleValue(samples, 'vllm:kv_cache_usage_perc', VLLM_LABELS),
  ];
}

function streamBody(maxTokens: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: 'mock-model', prompt: 'one two three', max_tokens: maxTokens, stream: true, ...extra };
}

test(
  'over HTTP: streams beyond the slots wait with their head sent; the gauges tell running, waiting and KV truthfully',
  TEST,
  async (t) => {
    // 3 slots of 2,048 tokens: 384 blocks. Each stream is 3 prompt tokens + 997 = 1,000 tokens, 63 blocks,
    // and would take 20 s: they are still running when the test ends them.
    const mock = await startMock(t, { maxNumSeqs: 3, tokenDelayMs: 20 });
    const agent = new Agent();
    t.after(() => agent.destroy());
    const controllers = Array.from({ length: 5 }, () => new AbortController());
    const heads = await Promise.all(
      controllers.map((controller) =>
        request(`${mock.backend.url}/v1/completions`, {
          method: 'POST',
          dispatcher: agent,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(streamBody(997)),
          signal: controller.signal,
        }),
      ),
    );
    assert.deepEqual(
      heads.map((res) => res.statusCode),
      [200, 200, 200, 200, 200],
      'every stream has its head, queued or not',
    );
    for (const res of heads) res.body.on('error', () => undefined).resume();
    await eventually(
      '3 running, 2 waiting',
      () => [mock.backend.stats.engine.running, mock.backend.stats.engine.waiting],
      (v) => v.join() === '3,2',
    );
    assert.deepEqual(engineGauges(await metricsOf(mock)), [3, 2, (3 * 63) / 384]);
    (controllers[0] as AbortController).abort();
    (controllers[4] as AbortController).abort();
    await eventually(
      'one more running, none waiting',
      () => metricsOf(mock).then(engineGauges),
      (v) => v.join() === `3,0,${(3 * 63) / 384}`,
    );
    for (const controller of controllers) controller.abort();
    await eventually(
      'all gone',
      () => [mock.backend.stats.engine.running, mock.backend.stats.engine.waiting],
      (v) => v.join() === '0,0',
    );
    assert.deepEqual(engineGauges(await metricsOf(mock)), [0, 0, 0]);
    assert.equal(mock.backend.stats.engine.admitted, 4, 'the fifth left the queue without being run');
  },
);

test('over HTTP: time to first token = the wait for a slot + the prefill (ttft)', TEST, async (t) => {
  const mock = await startMock(t, { maxNumSeqs: 1, ttftMs: 50, tokenDelayMs: 10 });
  const firstTokenMs = async (startedMs: number): Promise<number> => {
    const res = await mock.post('/v1/completions', streamBody(10));
    let text = '';
    let at = -1;
    // Read to the end: a client that leaves early frees its slot early.
    for await (const chunk of res.body) {
      text += chunk;
      if (at < 0 && text.includes(' tok0')) at = performance.now() - startedMs;
    }
    return at;
  };
  const startedMs = performance.now();
  const [first, second] = await Promise.all([firstTokenMs(startedMs), firstTokenMs(startedMs)]);
  // The first holds the slot for 50 + 9 × 10 ms; the second starts its 50 ms prefill only then.
  assert.ok(Math.min(first, second) >= 50 - 2, `first token of the first: ${Math.min(first, second)} ms`);
  assert.ok(Math.max(first, second) >= 50 + 90 + 50 - 2, `first token of the second: ${Math.max(first, second)} ms`);
});

test('over HTTP: vLLM refuses a priority without priority scheduling, and a sequence longer than the cache', TEST, async (t) => {
  const fcfs = await startMock(t, { maxNumSeqs: 2, kvCacheTokens: 64 });
  const refused = await fcfs.post('/v1/completions', streamBody(4, { priority: 1 }));
  assert.equal(refused.statusCode, 400);
  assert.deepEqual(await refused.body.json(), {
    error: { message: 'Got priority 1 but Priority scheduling is not enabled.', type: 'invalid_request_error', param: null, code: 400 },
  });
  const zero = await fcfs.post('/v1/completions', streamBody(4, { priority: 0 }));
  assert.equal(zero.statusCode, 200);
  await zero.body.dump();
  const notInt = await fcfs.post('/v1/completions', streamBody(4, { priority: 'high' }));
  assert.equal(notInt.statusCode, 400);
  await notInt.body.dump();
  const tooLong = await fcfs.post('/v1/completions', streamBody(62));
  assert.equal(tooLong.statusCode, 400);
  const body = (await tooLong.body.json()) as { error: { message: string } };
  assert.match(body.error.message, /^This model's maximum context length is 64 tokens\. However, you requested 65 tokens/);
  assert.equal(fcfs.backend.stats.engine.admitted, 1);
});

test('over HTTP: under priority scheduling a lower priority value overtakes the queue', TEST, async (t) => {
  const mock = await startMock(t, { maxNumSeqs: 1, schedulingPolicy: 'priority', tokenDelayMs: 5 });
  const order: string[] = [];
  const send = (name: string, priority: number) =>
    mock.post('/v1/completions', streamBody(20, { priority, stream: false })).then(async (res) => {
      await res.body.dump();
      order.push(name);
    });
  const holder = send('holder', 0);
  await eventually('the holder running', () => mock.backend.stats.engine.running === 1);
  const batch = send('batch', 10);
  await eventually('batch waiting', () => mock.backend.stats.engine.waiting === 1);
  const interactive = send('interactive', -10);
  await eventually('both waiting', () => mock.backend.stats.engine.waiting === 2);
  await Promise.all([holder, batch, interactive]);
  assert.deepEqual(order, ['holder', 'interactive', 'batch']);
});

test('without a slot limit every completion runs at once, and /metrics is always served', TEST, async (t) => {
  const mock = await startMock(t, { tokenDelayMs: 1000 });
  const agent = new Agent();
  t.after(() => agent.destroy());
  const controller = new AbortController();
  const streams = await Promise.all(
    Array.from({ length: 4 }, () =>
      request(`${mock.backend.url}/v1/chat/completions`, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'mock-model', messages: [{ role: 'user', content: 'hi' }], stream: true, max_tokens: 5 }),
        signal: controller.signal,
      }),
    ),
  );
  for (const res of streams) res.body.on('error', () => undefined).resume();
  await eventually('4 running', () => mock.backend.stats.engine.running === 4);
  assert.deepEqual(engineGauges(await metricsOf(mock)), [4, 0, 0]);
  controller.abort();
  await eventually('none running', () => mock.backend.stats.engine.running === 0);
});
