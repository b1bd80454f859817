/**
 * Load on the real cluster for process-fault tests (a killed worker, a drain, a rolling restart): short
 * chats back to back from several clients, long streams pinned to a chosen worker. Every request is a
 * bounded call() that never throws, so a failure is counted rather than ending the load.
 */
import { Agent } from 'undici';
import { type CallResult, call, chatBody } from './http.js';

const LONG_STREAM_TIMEOUT_MS = 30_000;
const CHAT = '/v1/chat/completions';
const JSON_HEADERS = { 'content-type': 'application/json' };

export const completedStream = (r: CallResult): boolean => r.error === null && r.status === 200 && r.text.endsWith('data: [DONE]\n\n');
export const okChat = (r: CallResult): boolean => r.error === null && r.status === 200 && r.text.includes('"chat.completion"');

export interface LoadTally {
  sent: number;
  /** Requests that got response headers (whatever the status): each one reached a worker's handler. */
  answered: number;
  ok: number;
  /** Requests that failed before any response byte with a reset-type error. */
  resets: Array<{ atMs: number; error: string }>;
  /** Requests that hit the client timeout: no answer and no reset. */
  timeouts: number;
  /** Requests that ended without a 200. */
  failures: string[];
}

/** Before any response byte, on a connection that the server closed or reset. */
const RESET_CODES = /^(ECONNRESET|UND_ERR_SOCKET|EPIPE|ECONNREFUSED):/;

export interface LoadOptions {
  clients: number;
  /** Client i keeps one keep-alive connection when true, else opens a fresh connection per request. */
  keepAlive: (client: number) => boolean;
  stopAt: () => boolean;
  timeoutMs?: number;
}

/**
 * `clients` loops sending short non-streamed chats back to back until `stopAt()` is true. The tally
 * grows as answers come, so a test can wait for progress; `done` resolves once every client stopped.
 */
export function shortChatLoad(url: string, options: LoadOptions): { tally: LoadTally; done: Promise<LoadTally> } {
  const tally: LoadTally = { sent: 0, answered: 0, ok: 0, resets: [], timeouts: 0, failures: [] };
  const attempt = async (dispatcher: Agent | undefined): Promise<CallResult> => {
    tally.sent++;
    const res = await call(`${url}${CHAT}`, {
      body: chatBody({ max_tokens: 2 }),
      headers: { ...JSON_HEADERS, 'x-mock-ttft-ms': '10' },
      dispatcher,
      timeoutMs: options.timeoutMs,
    });
    if (res.status !== 0) tally.answered++;
    else if (RESET_CODES.test(res.error ?? '')) tally.resets.push({ atMs: Date.now(), error: res.error as string });
    else tally.timeouts++;
    return res;
  };
  const loop = async (client: number): Promise<void> => {
    const dispatcher = options.keepAlive(client) ? new Agent({ connections: 1, pipelining: 1, keepAliveTimeout: 30_000 }) : undefined;
    try {
      while (!options.stopAt()) {
        const res = await attempt(dispatcher);
        if (okChat(res)) tally.ok++;
        else
          tally.failures.push(
            `client ${client}: status ${res.status} ${res.error ?? res.text.slice(0, 120)} after ${Math.round(res.ms)} ms`,
          );
      }
    } finally {
      await dispatcher?.close().catch(() => undefined);
    }
  };
  const done = Promise.all(Array.from({ length: options.clients }, (_, i) => loop(i))).then(() => tally);
  return { tally, done };
}

export interface LongStream {
  /** Resolves at the first body byte (the stream is in flight), or when the request ended without one. */
  readonly started: Promise<void>;
  readonly result: Promise<CallResult>;
}

/** A streamed chat of `tokens` tokens, `tokenDelayMs` apart, on `dispatcher` (a fresh connection if none). */
export function longStream(url: string, tokens: number, tokenDelayMs: number, dispatcher?: Agent): LongStream {
  let markStarted = (): void => undefined;
  const started = new Promise<void>((resolve) => {
    markStarted = resolve;
  });
  const result = call(`${url}${CHAT}`, {
    body: chatBody({ stream: true, max_tokens: tokens }),
    headers: { ...JSON_HEADERS, 'x-mock-token-delay-ms': String(tokenDelayMs) },
    dispatcher,
    timeoutMs: LONG_STREAM_TIMEOUT_MS,
    onFirstChunk: markStarted,
  }).finally(markStarted);
  return { started, result };
}

/**
 * `perWorker` keep-alive connections bound to each worker, found by asking /healthz (which answers with
 * the worker's pid) on fresh connections until every worker has its share (bounded).
 */
export async function pinnedAgents(url: string, pids: readonly number[], perWorker: number): Promise<Map<number, Agent[]>> {
  const pinned = new Map<number, Agent[]>(pids.map((pid) => [pid, []]));
  for (let attempt = 0; attempt < 40 * pids.length * perWorker; attempt++) {
    if ([...pinned.values()].every((agents) => agents.length >= perWorker)) return pinned;
    const agent = new Agent({ connections: 1, pipelining: 1, keepAliveTimeout: 30_000 });
    const res = await call(`${url}/healthz`, { dispatcher: agent, timeoutMs: 5_000 });
    const pid = res.status === 200 ? (JSON.parse(res.text) as { pid: number }).pid : -1;
    const agents = pinned.get(pid);
    if (agents !== undefined && agents.length < perWorker) agents.push(agent);
    else await agent.close();
  }
  throw new Error(`could not bind ${perWorker} connections to each of the workers ${pids.join(', ')}`);
}

export function closeAll(pinned: Map<number, Agent[]>): Promise<unknown> {
  return Promise.all([...pinned.values()].flat().map((agent) => agent.destroy().catch(() => undefined)));
}
