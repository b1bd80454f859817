import { Agent, request } from 'undici';

const REQUEST_TIMEOUT_MS = 15_000;

export interface SimpleResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
}

/**
 * One request with a bounded wait; a fresh connection each time unless `dispatcher` is given, so
 * scrapes in cluster tests spread over the workers.
 */
export async function send(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer; dispatcher?: Agent } = {},
): Promise<SimpleResponse> {
  const dispatcher = options.dispatcher ?? new Agent({ pipelining: 0, connections: 1 });
  try {
    const res = await boundedRequest(url, options, dispatcher, REQUEST_TIMEOUT_MS);
    const body = Buffer.from(await res.body.arrayBuffer());
    return { status: res.statusCode, headers: res.headers, body, text: body.toString('utf8') };
  } finally {
    if (options.dispatcher === undefined) await dispatcher.close();
  }
}

export interface CallResult {
  /** 0 when no response headers arrived. */
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** Set when the request or the body read failed (connection refused, reset, cut, timeout). */
  error: string | null;
  ms: number;
}

export interface CallOptions {
  method?: string;
  body?: string;
  headers?: Record<string, string>;
  dispatcher?: Agent;
  timeoutMs?: number;
  /** Called once, when the first body chunk has arrived. */
  onFirstChunk?: () => void;
}

/**
 * One request that never throws: a failure becomes `error`. A fresh connection unless a dispatcher
 * is given; bounded by `timeoutMs` in every phase.
 */
export async function call(url: string, options: CallOptions = {}): Promise<CallResult> {
  const started = performance.now();
  const own = options.dispatcher === undefined ? new Agent({ connections: 1, pipelining: 0 }) : null;
  const timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS;
  const out: CallResult = { status: 0, headers: {}, text: '', error: null, ms: 0 };
  try {
    const res = await boundedRequest(url, options, own ?? (options.dispatcher as Agent), timeoutMs);
    out.status = res.statusCode;
    out.headers = res.headers;
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of res.body) {
        if (chunks.length === 0) options.onFirstChunk?.();
        chunks.push(chunk as Buffer);
      }
    } finally {
      out.text = Buffer.concat(chunks).toString('utf8');
    }
  } catch (err) {
    const e = err as { code?: string; name?: string; message?: string };
    out.error = `${e.code ?? e.name ?? 'Error'}: ${e.message ?? String(err)}`;
  } finally {
    out.ms = performance.now() - started;
    if (own !== null) void own.destroy().catch(() => undefined);
  }
  return out;
}

/** The server side cut the response (closed or reset the connection mid-way), as opposed to a clean end or a client timeout. */
export const wasCut = (res: CallResult): boolean => res.error !== null && !/timeout/i.test(res.error);

export function chatBody(fields: Record<string, unknown> = {}): string {
  return JSON.stringify({ model: 'mock-model', max_tokens: 4, messages: [{ role: 'user', content: 'hello there proxy' }], ...fields });
}

/** One undici request with every wait bounded by `timeoutMs`; GET unless there is a body; `signal` can end it sooner. */
export function boundedRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer; signal?: AbortSignal },
  dispatcher: Agent,
  timeoutMs: number,
): ReturnType<typeof request> {
  const timeout = AbortSignal.timeout(timeoutMs);
  return request(url, {
    method: (options.method ?? (options.body === undefined ? 'GET' : 'POST')) as 'GET',
    headers: options.headers,
    body: options.body,
    dispatcher,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    signal: options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout]),
  });
}

export interface OpenStream {
  readonly status: number;
  /** The first chunk of the body: the stream has started. */
  readonly first: string;
  /** The whole body once it ends (first chunk included), and the error that cut it, if any. Never rejects. */
  readonly rest: Promise<{ text: string; error: Error | null }>;
  /** The client goes away: the request is aborted. */
  leave(): void;
}

/**
 * A request whose response has sent its first body byte, for "while a stream is in flight" tests: resolves
 * then, instead of after a sleep that hopes it did. A fresh connection (closed at the end) unless
 * `dispatcher` is given; bounded by `timeoutMs`, whole body included.
 */
export async function openStream(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer },
  dispatcher?: Agent,
  timeoutMs = REQUEST_TIMEOUT_MS,
): Promise<OpenStream> {
  const own = dispatcher === undefined ? new Agent({ connections: 1 }) : null;
  const leaving = new AbortController();
  const release = async (): Promise<void> => {
    await own?.destroy();
  };
  try {
    const res = await boundedRequest(url, { ...options, signal: leaving.signal }, own ?? (dispatcher as Agent), timeoutMs);
    const chunks = res.body[Symbol.asyncIterator]();
    const head = await chunks.next();
    const first = head.done ? '' : String(head.value);
    const rest = (async () => {
      let text = first;
      try {
        for (let next = await chunks.next(); !next.done; next = await chunks.next()) text += String(next.value);
        return { text, error: null };
      } catch (err) {
        return { text, error: err as Error };
      } finally {
        await release();
      }
    })();
    return { status: res.statusCode, first, rest, leave: () => leaving.abort() };
  } catch (err) {
    await release();
    throw err;
  }
}
