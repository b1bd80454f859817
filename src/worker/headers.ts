import type { IncomingMessage } from 'node:http';

// RFC 9110 7.6.1: hop-by-hop fields describe one connection and are never forwarded. `expect` too:
// Node has already answered 100-continue, and undici rejects it. `host` is rewritten to the backend.
const REQUEST_DROP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'http2-settings',
  'host',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-request-id',
]);
const RESPONSE_DROP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'x-request-id',
]);

const MAX_REQUEST_ID_LENGTH = 200;
const REQUEST_ID_PATTERN = /^[\x21-\x7e]+$/;

/** A client's X-Request-Id is kept when it is printable ASCII of sane length, otherwise replaced. */
export function isUsableRequestId(value: string | undefined): value is string {
  return value !== undefined && value.length <= MAX_REQUEST_ID_LENGTH && REQUEST_ID_PATTERN.test(value);
}

/** Names listed in a Connection header are hop-by-hop for this message only (RFC 9110 7.6.1). */
function connectionTokens(value: string | string[] | undefined): Set<string> | null {
  if (value === undefined) return null;
  if (typeof value === 'string') {
    // Nearly every message says just one of these, and neither names a header: no set to build.
    const lower = value.toLowerCase();
    if (lower === 'keep-alive' || lower === 'close') return null;
  }
  const tokens = new Set<string>();
  for (const part of String(value).split(',')) {
    const token = part.trim().toLowerCase();
    if (token) tokens.add(token);
  }
  return tokens.size === 0 ? null : tokens;
}

/** The flat [name, value, ...] header list sent to the backend. */
export function buildUpstreamHeaders(req: IncomingMessage, requestId: string, backendHost: string, dropContentLength = false): string[] {
  const raw = req.rawHeaders;
  const listed = connectionTokens(req.headers.connection);
  const out: string[] = ['host', backendHost];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if (REQUEST_DROP.has(lower) || listed?.has(lower) || (dropContentLength && lower === 'content-length')) continue;
    out.push(name, raw[i + 1] as string);
  }
  const forwardedFor = req.headers['x-forwarded-for'];
  const peer = req.socket.remoteAddress ?? 'unknown';
  out.push('x-forwarded-for', forwardedFor ? `${forwardedFor}, ${peer}` : peer);
  out.push('x-forwarded-proto', 'http');
  if (req.headers.host !== undefined) out.push('x-forwarded-host', req.headers.host);
  out.push('x-request-id', requestId);
  return out;
}

/** The flat header list sent to the client, from undici's parsed response headers. */
export function buildResponseHeaders(headers: Record<string, string | string[] | undefined>, requestId: string): string[] {
  const listed = connectionTokens(headers.connection);
  const out: string[] = [];
  for (const name in headers) {
    if (RESPONSE_DROP.has(name) || listed?.has(name)) continue;
    const value = headers[name];
    if (value === undefined) continue;
    if (typeof value === 'string') out.push(name, value);
    else for (const item of value) out.push(name, item);
  }
  out.push('x-request-id', requestId);
  return out;
}
