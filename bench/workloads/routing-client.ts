import { Pool } from 'undici';
import { prng } from '../../support/prng.js';
import { LatencyHistogram } from '../measurement/latency-histogram.js';
import { systemPrompts, userMessage } from './routing-prompts.js';

/** Which system prompt each request takes: all alike, or one prompt carrying 80% of the requests. */
export type PromptMix = 'uniform' | 'skewed';
const SKEWED_SHARE = 0.8;
const MAX_TOKENS = 8;
const CONTENT = Buffer.from('"content":"');
const QUOTE = 0x22;
const REQUEST_TIMEOUT_MS = 30_000;

export interface RoutingLoad {
  /** Time to first token of the requests that started in the window, ms. */
  readonly ttft: LatencyHistogram;
  /** Their sum, for the mean. */
  readonly ttftSumMs: number;
  readonly completed: number;
  readonly failed: number;
}

/**
 * 32 clients (or `clients`), each sending the next request as soon as the last one ended: a streamed chat
 * whose system prompt is one of the 64 and whose user message is its own. The session policy reads the
 * prompt's number from x-session-id (a session is a system prompt); the other policies ignore it. Only
 * requests started inside [windowStart, windowEnd) are measured; every request is bounded.
 */
export async function driveRouting(
  url: string,
  options: { clients: number; mix: PromptMix; warmupMs: number; windowMs: number; seed: number },
): Promise<RoutingLoad> {
  const prompts = systemPrompts();
  const random = prng(options.seed);
  const pool = new Pool(url, { connections: options.clients, pipelining: 1 });
  const ttft = new LatencyHistogram();
  let ttftSumMs = 0;
  let completed = 0;
  let failed = 0;
  let serial = 0;
  const start = performance.now();
  const windowStart = start + options.warmupMs;
  const windowEnd = windowStart + options.windowMs;
  const lane = async (): Promise<void> => {
    while (performance.now() < windowEnd) {
      const prompt = options.mix === 'skewed' && random() < SKEWED_SHARE ? 0 : Math.floor(random() * prompts.length);
      const body = JSON.stringify({
        model: 'mock-model',
        stream: true,
        max_tokens: MAX_TOKENS,
        messages: [
          { role: 'system', content: prompts[prompt] },
          { role: 'user', content: userMessage(serial++, random) },
        ],
      });
      const sent = performance.now();
      const firstMs = await firstToken(pool, body, `s${prompt}`);
      if (sent < windowStart) continue;
      if (firstMs === null) failed++;
      else {
        completed++;
        ttft.record(firstMs - sent);
        ttftSumMs += firstMs - sent;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: options.clients }, lane));
  } finally {
    await pool.close();
  }
  return { ttft, ttftSumMs, completed, failed };
}

/** Sends one request and reads it to the end; the time of its first content event, or null if it failed. */
async function firstToken(pool: Pool, body: string, session: string): Promise<number | null> {
  try {
    const res = await pool.request({
      method: 'POST',
      path: '/v1/chat/completions',
      headers: { 'content-type': 'application/json', 'x-session-id': session },
      body,
      headersTimeout: REQUEST_TIMEOUT_MS,
      bodyTimeout: REQUEST_TIMEOUT_MS,
    });
    let first: number | null = null;
    for await (const chunk of res.body) {
      if (first === null && hasContent(chunk as Buffer)) first = performance.now();
    }
    return res.statusCode === 200 ? first : null;
  } catch {
    return null;
  }
}

/** A `"content":"` followed by something other than the closing quote: generated text, not the role-only chunk. */
function hasContent(chunk: Buffer): boolean {
  for (let at = chunk.indexOf(CONTENT); at !== -1; at = chunk.indexOf(CONTENT, at + 1)) {
    if (chunk[at + CONTENT.length] !== QUOTE) return true;
  }
  return false;
}
