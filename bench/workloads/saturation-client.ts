import { setMaxListeners } from 'node:events';
import { Agent, request } from 'undici';
import { prng } from '../../support/prng.js';

/** One kind of client of the saturation workload: its requests' headers and its share of the arrivals. */
export interface Tenant {
  readonly name: string;
  /** Requests per second it offers. */
  readonly rate: number;
  readonly headers: Readonly<Record<string, string>>;
}

/** What one tenant's requests that arrived in the window got. */
export interface TenantLoad {
  readonly name: string;
  /** Requests that arrived in the window. */
  readonly offered: number;
  /** Of those, the ones that completed (200 and [DONE]). */
  readonly succeeded: number;
  /** Of those, refused by the proxy's queue (429). */
  readonly rejected: number;
  /** Completions that ended inside the window, whenever they arrived. */
  readonly completionsInWindow: number;
  /** Time to first token of each completed request that arrived in the window, ms, sorted. */
  readonly ttftMs: readonly number[];
}

export interface SaturationDrive {
  readonly tenants: readonly Tenant[];
  readonly warmupMs: number;
  readonly windowMs: number;
  /** Requests still running this long after the window are abandoned (counted as failed). */
  readonly drainMs: number;
  readonly maxTokens: number;
  readonly seed: number;
  /** Instances to spread the requests over, in turn. */
  readonly urls: readonly string[];
}

const CHAT_PATH = '/v1/chat/completions';
const FIRST_TOKEN = ' tok0';

/**
 * Open-loop Poisson arrivals per tenant (a seeded generator, so that every variant sees the same arrival
 * times), each a streamed chat completion of `maxTokens` tokens. A request is timed from the moment it was
 * due, not sent, so a slow client cannot hide a slow proxy; only requests due inside the window are
 * measured, and they are followed until they end or the drain runs out.
 */
export async function driveSaturation(drive: SaturationDrive): Promise<TenantLoad[]> {
  const agent = new Agent({ connections: 4_096, pipelining: 1, keepAliveTimeout: 10_000 });
  const start = performance.now();
  const windowStart = start + drive.warmupMs;
  const windowEnd = windowStart + drive.windowMs;
  const results = drive.tenants.map((tenant) => ({
    name: tenant.name,
    offered: 0,
    succeeded: 0,
    rejected: 0,
    completionsInWindow: 0,
    ttftMs: [] as number[],
  }));
  const abandon = new AbortController();
  // Every request of the run listens to it.
  setMaxListeners(0, abandon.signal);
  const running = new Set<Promise<void>>();
  let turn = 0;
  const arrivals = drive.tenants.map(async (tenant, index) => {
    const random = prng(drive.seed * 31 + index);
    const result = results[index] as (typeof results)[number];
    let due = start;
    for (;;) {
      due += (-Math.log(1 - random()) / tenant.rate) * 1000;
      if (due >= windowEnd) return;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      const dueMs = due;
      const measured = dueMs >= windowStart;
      if (measured) result.offered++;
      const url = drive.urls[turn++ % drive.urls.length] as string;
      const one = stream(agent, url, tenant, drive.maxTokens, abandon.signal).then((outcome) => {
        if (outcome.status === 200 && outcome.done && outcome.endMs >= windowStart && outcome.endMs < windowEnd)
          result.completionsInWindow++;
        if (!measured) return;
        if (outcome.status === 429) result.rejected++;
        if (outcome.status === 200 && outcome.done && outcome.firstTokenMs !== null) {
          result.succeeded++;
          result.ttftMs.push(outcome.firstTokenMs - dueMs);
        }
      });
      running.add(one);
      void one.finally(() => running.delete(one));
    }
  });
  await Promise.all(arrivals);
  const drained = Promise.all([...running]);
  const timer = setTimeout(() => abandon.abort(), Math.max(0, windowEnd + drive.drainMs - performance.now()));
  await drained;
  clearTimeout(timer);
  await agent.destroy();
  for (const result of results) result.ttftMs.sort((a, b) => a - b);
  return results;
}

interface Outcome {
  status: number;
  done: boolean;
  firstTokenMs: number | null;
  endMs: number;
}

async function stream(agent: Agent, base: string, tenant: Tenant, maxTokens: number, signal: AbortSignal): Promise<Outcome> {
  const outcome: Outcome = { status: 0, done: false, firstTokenMs: null, endMs: 0 };
  try {
    const res = await request(`${base}${CHAT_PATH}`, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json', ...tenant.headers },
      body: JSON.stringify({
        model: 'mock-model',
        stream: true,
        max_tokens: maxTokens,
        messages: [{ role: 'user', content: tenant.name }],
      }),
      signal,
    });
    outcome.status = res.statusCode;
    res.body.setEncoding('utf8');
    let tail = '';
    for await (const chunk of res.body) {
      const text = tail + (chunk as string);
      if (outcome.firstTokenMs === null && text.includes(FIRST_TOKEN)) outcome.firstTokenMs = performance.now();
      if (text.includes('[DONE]')) outcome.done = true;
      tail = text.slice(-16);
    }
  } catch {
    outcome.done = false;
  }
  outcome.endMs = performance.now();
  return outcome;
}

/** The value at quantile q of sorted values; null when empty. */
export function quantile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}
