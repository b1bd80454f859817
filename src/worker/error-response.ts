import type { ServerResponse } from 'node:http';
import { ERR_BAD_REQUEST_BODY, ERR_BODY_TOO_LARGE, ERR_CLIENT_ABORTED } from '../shared/proxy-error.js';

/** Status used in metrics and logs when the client left before the response ended (nothing is sent). */
export const STATUS_CLIENT_CLOSED = 499;

export interface ErrorMapping {
  readonly status: number;
  readonly type: string;
  readonly code: string;
  readonly message: string;
}

const TIMEOUT_CODES: Record<string, string> = {
  UND_ERR_CONNECT_TIMEOUT: 'connecting to the backend timed out',
  UND_ERR_HEADERS_TIMEOUT: 'the backend did not send response headers in time',
  UND_ERR_BODY_TIMEOUT: 'the backend went silent for longer than the body timeout',
};

/** The one place where an error becomes an HTTP status (STYLE habit 3): switch on `code`, default 502. */
export function mapError(err: unknown): ErrorMapping {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
  const timeout = TIMEOUT_CODES[code];
  if (timeout !== undefined) return { status: 504, type: 'upstream_timeout', code: 'backend_timeout', message: timeout };
  switch (code) {
    case ERR_BODY_TOO_LARGE:
      return { status: 413, type: 'invalid_request_error', code: 'request_too_large', message: (err as Error).message };
    case ERR_BAD_REQUEST_BODY:
      return { status: 400, type: 'invalid_request_error', code: 'bad_request_body', message: (err as Error).message };
    case ERR_CLIENT_ABORTED:
    case 'UND_ERR_ABORTED':
      return { status: STATUS_CLIENT_CLOSED, type: 'client_closed', code: 'client_closed', message: 'the client closed the connection' };
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return { status: 502, type: 'upstream_error', code: 'backend_unreachable', message: `the backend is unreachable (${code})` };
    default:
      return {
        status: 502,
        type: 'upstream_error',
        code: 'backend_error',
        message: `the backend connection failed${code ? ` (${code})` : ''}`,
      };
  }
}

/** OpenAI error envelope, because our clients are LLM SDKs. */
export function errorBody(type: string, code: string, message: string): string {
  return JSON.stringify({ error: { message, type, code } });
}

export function sendJsonError(
  res: ServerResponse,
  status: number,
  type: string,
  code: string,
  message: string,
  extraHeaders: string[] = [],
): void {
  const body = errorBody(type, code, message);
  res.writeHead(status, ['content-type', 'application/json', 'content-length', String(Buffer.byteLength(body)), ...extraHeaders]);
  res.end(body);
}
