import type { TestContext } from 'node:test';
import { type PromSamples, parsePromText, sampleValue } from '../../src/metrics/prom-text.js';
import { createMockBackend, type MockBackend, type MockBackendOptions } from '../../src/mock-backend/create-mock-backend.js';
import { eventually } from '../../support/wait.js';
import { send } from './http.js';
import { type RunningProxy, startProxy } from './start-proxy.js';

export const CHAT = '/v1/chat/completions';

/** Simulated backends on loopback, one per options object, closed by t.after. */
export async function startMocks(t: TestContext, options: readonly MockBackendOptions[]): Promise<MockBackend[]> {
  const mocks = await Promise.all(options.map((option) => createMockBackend({ port: 0, ...option })));
  t.after(() => Promise.all(mocks.map((mock) => mock.close())));
  return mocks;
}

/** The real proxy (primary and workers) in front of `urls`, stopped by t.after. */
export async function startFleetProxy(
  t: TestContext,
  urls: readonly string[],
  args: readonly string[] = [],
  env: Record<string, string> = {},
): Promise<RunningProxy> {
  const proxy = await startProxy(['--backend-url', urls.join(','), ...args], env);
  t.after(() => proxy.stop());
  return proxy;
}

export function chat(fields: Record<string, unknown> = {}): string {
  return JSON.stringify({ model: 'mock-model', max_tokens: 2, messages: [{ role: 'user', content: 'hello fleet' }], ...fields });
}

export async function postChat(base: string, fields: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  return send(`${base}${CHAT}`, { body: chat(fields), headers: { 'content-type': 'application/json', ...headers } });
}

export async function scrape(proxy: RunningProxy): Promise<PromSamples> {
  return parsePromText((await send(`${proxy.url}/metrics`)).text);
}

/** A sample's value, 0 when the series does not exist. */
export function metricValue(samples: PromSamples, name: string, labels: Record<string, string>): number {
  return sampleValue(samples, name, labels) ?? 0;
}

/** Runs `count` requests through `run`, `concurrency` at a time; returns their results in order. */
export async function inParallel<T>(count: number, concurrency: number, run: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      results[i] = await run(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  return results;
}

export interface ClientLoad {
  /** The status of every request so far, in the order they ended. */
  readonly statuses: number[];
  /** Stops sending and waits for the requests in flight. */
  stop(): Promise<void>;
}

/**
 * `clients` clients that never retry, each sending the next chat as soon as its last one ended, until
 * stop(); resolves once `warmup` requests have been answered, so the test acts under load.
 */
export async function startClientLoad(url: string, clients = 4, warmup = 20): Promise<ClientLoad> {
  let running = true;
  const statuses: number[] = [];
  const lanes = Array.from({ length: clients }, async () => {
    while (running) statuses.push((await postChat(url)).status);
  });
  await eventually(
    'load flowing',
    () => statuses.length,
    (n) => n >= warmup,
  );
  return {
    statuses,
    async stop() {
      running = false;
      await Promise.all(lanes);
    },
  };
}
