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

export function chatBody(fields: Record<string, unknown> = {}): string {
  return JSON.stringify({ model: 'mock-model', max_tokens: 4, messages: [{ role: 'user', content: 'hello there proxy' }], ...fields });
}

/** One undici request with every wait bounded by `timeoutMs`; GET unless there is a body. */
export function boundedRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer },
  dispatcher: Agent,
  timeoutMs: number,
): ReturnType<typeof request> {
  return request(url, {
    method: (options.method ?? (options.body === undefined ? 'GET' : 'POST')) as 'GET',
    headers: options.headers,
    body: options.body,
    dispatcher,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    signal: AbortSignal.timeout(timeoutMs),
  });
}
