/**
 * The `fleet` workload: what the proxy itself costs as its fleet grows, from one mock backend process that
 * takes connections on many loopback addresses (every 127.x.y.z is loopback on Linux), one backend URL each.
 */

/** Fleet sizes measured without --backends. */
export const DEFAULT_FLEET_SIZES: readonly number[] = [1, 8, 64, 256];
/** The largest fleet --backends may ask for: the addresses below run from 127.0.0.1 to 127.0.3.250. */
export const MAX_FLEET_SIZE = 1000;
/** Workers of the proxy under test: the merge over IPC is what grows with the fleet. */
export const FLEET_WORKERS = 2;
/** Streamed chats each backend serves before /metrics is read (round-robin: every backend alike). */
export const REQUESTS_PER_BACKEND = 20;
/** Concurrent clients sending those chats. */
export const TRAFFIC_CONCURRENCY = 16;
/** Tokens per chat: every LLM histogram gets an observation. */
export const CHAT_TOKENS = 8;
/** Timed scrapes per fleet size; latency is their median. */
export const SCRAPES = 5;
/** No traffic and no scrape for this long: the CPU every proxy process uses at rest. */
export const IDLE_S = 30;
/** The fleet sizes whose CPU per small request is compared (selection over 1 and over 64 candidates). */
export const SMALL_SIZES: readonly number[] = [1, 64];
/** After the chats, before reading /metrics: the workers' last requests have ended. */
export const SETTLE_MS = 2_000;
/** curl's bound on one scrape: longer than Prometheus' default 10 s timeout, so a slow scrape is measured, not cut. */
export const SCRAPE_MAX_S = 30;

/** The i-th backend address (from 0): 127.0.0.1 … 127.0.0.250, then 127.0.1.1 … */
function fleetHost(i: number): string {
  return `127.0.${Math.floor(i / 250)}.${(i % 250) + 1}`;
}

export function fleetHosts(size: number): string[] {
  return Array.from({ length: size }, (_, i) => fleetHost(i));
}

/** The streamed chat every backend serves (no delays: the traffic only has to populate every series). */
export const FLEET_CHAT_BODY = JSON.stringify({
  model: 'mock-model',
  stream: true,
  max_tokens: CHAT_TOKENS,
  messages: [{ role: 'user', content: 'hi' }],
});
