import { performance } from 'node:perf_hooks';
import { createKeyReader } from '../../src/routing/routing-key.js';
import { prng } from '../../support/prng.js';
import { fmt, markdownTable } from '../report/markdown.js';
import { systemPrompts, userMessage } from '../workloads/routing-prompts.js';

/** The prompt the cost is measured on (issue 12 point 7): a chat of 32 KiB, as a long system prompt gives. */
const PROMPT_BYTES = 32 * 1024;
const ITERATIONS = 20_000;
const ROUNDS = 5;

interface KeyCostRow {
  prefixBytes: number;
  /** Median over the rounds of the mean time per key, µs. */
  keyUs: number;
}

export interface KeyCostResult {
  rows: KeyCostRow[];
  /** JSON.parse of the same body, µs: what the proxy already pays on the completion endpoints, for scale. */
  parseUs: number;
}

function chatBody(): string {
  const prompts = systemPrompts();
  let system = '';
  for (let i = 0; system.length < PROMPT_BYTES; i++) system += prompts[i % prompts.length];
  const user = userMessage(1, prng(7));
  return JSON.stringify({
    model: 'mock',
    stream: true,
    messages: [
      { role: 'system', content: system.slice(0, PROMPT_BYTES) },
      { role: 'user', content: user },
    ],
  });
}

function perCallUs(fn: () => unknown): number {
  const times: number[] = [];
  let sink = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const start = performance.now();
    for (let i = 0; i < ITERATIONS; i++) sink += fn() === null ? 0 : 1;
    times.push(((performance.now() - start) * 1000) / ITERATIONS);
  }
  if (sink < 0) throw new Error('unreachable');
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] as number;
}

/**
 * What the prefix key costs per request: promptText over the first --prefix-bytes of a 32 KiB chat prompt
 * and its two MurmurHash3 words, timed in this process over 20,000 calls (5 rounds, the median), after a
 * warm-up round. The body is parsed once beforehand: the proxy parses completion bodies anyway.
 */
export function measurePrefixKeyCost(prefixSizes: readonly number[]): KeyCostResult {
  const body = chatBody();
  const json = JSON.parse(body) as Record<string, unknown>;
  const rows = prefixSizes.map((prefixBytes) => {
    const read = createKeyReader('prefix', { sessionHeader: 'x-session-id', prefixBytes });
    perCallUs(() => read({}, 'chat', json));
    return { prefixBytes, keyUs: perCallUs(() => read({}, 'chat', json)) };
  });
  return { rows, parseUs: perCallUs(() => JSON.parse(body)) };
}

export function renderKeyCost(result: KeyCostResult): string {
  const table = markdownTable(
    ['--prefix-bytes', 'key per request µs'],
    result.rows.map((row) => [String(row.prefixBytes), fmt(row.keyUs, 2)]),
  );
  return [
    '### routing: what the prefix key costs',
    '',
    `The key of a 32 KiB chat prompt (promptText over the first --prefix-bytes, then MurmurHash3), in the bench process, ${ROUNDS} rounds of ${ITERATIONS.toLocaleString('en-US')} calls, median. For scale: JSON.parse of the same body, which the proxy does anyway on the completion endpoints, takes ${fmt(result.parseUs, 1)} µs.`,
    '',
    table,
  ].join('\n');
}
