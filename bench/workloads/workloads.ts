export const WORKLOAD_NAMES = ['small', 'chat', 'stream', 'overhead', 'routing', 'fleet', 'saturation'] as const;
export type WorkloadName = (typeof WORKLOAD_NAMES)[number];
/** What `npm run bench` runs without --workloads: overhead, routing, fleet and saturation (each many minutes long) only when asked. */
export const DEFAULT_WORKLOADS: readonly WorkloadName[] = ['small', 'chat', 'stream'];
/** Workloads driven by autocannon (one request, one response, no streaming). */
export type HttpWorkloadName = Exclude<WorkloadName, 'stream' | 'overhead' | 'routing' | 'fleet' | 'saturation'>;

export interface Workload {
  name: HttpWorkloadName;
  title: string;
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

const CHAT_BODY = JSON.stringify({ model: 'mock-model', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });

export const WORKLOADS: Readonly<Record<HttpWorkloadName, Workload>> = {
  // /version, not /v1/models: the proxy answers /v1/models itself (its fleet's merged list) since issue 11.
  small: { name: 'small', title: 'small GET /version', method: 'GET', path: '/version' },
  chat: {
    name: 'chat',
    title: 'non-streamed POST /v1/chat/completions (max_tokens 16, ttft 0, token delay 0)',
    method: 'POST',
    path: '/v1/chat/completions',
    headers: { 'content-type': 'application/json' },
    body: CHAT_BODY,
  },
};

export function isHttpWorkload(name: WorkloadName): name is HttpWorkloadName {
  return name === 'small' || name === 'chat';
}

/** The `stream` workload: many long-lived SSE streams, paced like a real model. */
export interface StreamWorkload {
  /** Content events per stream (max_tokens). */
  tokens: number;
  /** Time between two content events, set per request with x-mock-token-delay-ms. */
  tokenDelayMs: number;
  /** Set per request with x-mock-ttft-ms; 0 makes the client's time to first token the request path alone. */
  ttftMs: number;
  /** The request does not ask for usage (no stream_options), so a proxy that injects it must hide the usage chunk. */
  body: string;
  headers: Record<string, string>;
}

const STREAM_TOKENS = 128;
const STREAM_TOKEN_DELAY_MS = 20;
const STREAM_TTFT_MS = 0;

export const STREAM: StreamWorkload = {
  tokens: STREAM_TOKENS,
  tokenDelayMs: STREAM_TOKEN_DELAY_MS,
  ttftMs: STREAM_TTFT_MS,
  body: JSON.stringify({ model: 'mock-model', stream: true, max_tokens: STREAM_TOKENS, messages: [{ role: 'user', content: 'hi' }] }),
  headers: {
    'content-type': 'application/json',
    'x-mock-ttft-ms': String(STREAM_TTFT_MS),
    'x-mock-token-delay-ms': String(STREAM_TOKEN_DELAY_MS),
  },
};

/** Wall time of one stream at the backend: the last token is due (tokens - 1) delays after the first. */
export const STREAM_LIFETIME_MS = STREAM_TTFT_MS + (STREAM_TOKENS - 1) * STREAM_TOKEN_DELAY_MS;

/** Every stream open before the window has sent tokens for a while: at least one whole lifetime and a second. */
export function streamWarmupMs(warmupS: number): number {
  return Math.max(warmupS * 1000, STREAM_LIFETIME_MS + 1000);
}

/** After the window, open streams get their remaining lifetime plus a grace to end on their own. */
export const STREAM_DRAIN_MS = STREAM_LIFETIME_MS + 5_000;
