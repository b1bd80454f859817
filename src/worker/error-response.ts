import type { ServerResponse } from 'node:http';
import { ERROR_CATALOG, type ErrorCode, errorBody } from '../shared/error-catalog.js';
import { ERR_BAD_REQUEST_BODY, ERR_BODY_TOO_LARGE, ERR_CLIENT_ABORTED } from '../shared/proxy-error.js';

/** An error as the client is told about it: a catalog code and a message. */
export interface MappedError {
  readonly code: ErrorCode;
  readonly message: string;
}

const TIMEOUT_MESSAGES: Record<string, string> = {
  UND_ERR_CONNECT_TIMEOUT: 'connecting to the backend timed out',
  UND_ERR_HEADERS_TIMEOUT: 'the backend did not send response headers in time',
  UND_ERR_BODY_TIMEOUT: 'the backend went silent for longer than the body timeout',
};

/** The one place where a failure becomes a catalog code (STYLE habit 3): switch on `err.code`, default 502. */
export function mapError(err: unknown): MappedError {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
  const timeout = TIMEOUT_MESSAGES[code];
  if (timeout !== undefined) return { code: 'backend_timeout', message: timeout };
  switch (code) {
    case ERR_BODY_TOO_LARGE:
      return { code: 'request_too_large', message: (err as Error).message };
    case ERR_BAD_REQUEST_BODY:
      return { code: 'bad_request_body', message: (err as Error).message };
    case ERR_CLIENT_ABORTED:
    case 'UND_ERR_ABORTED':
      return { code: 'client_closed', message: 'the client closed the connection' };
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return { code: 'backend_unreachable', message: `the backend is unreachable (${code})` };
    default:
      return { code: 'backend_error', message: `the backend connection failed${code ? ` (${code})` : ''}` };
  }
}

export function statusOf(code: ErrorCode): number {
  return ERROR_CATALOG[code].status;
}

/** Answers with the catalog's status and an OpenAI error body; `extraHeaders` as a flat [name, value, ...] list. */
export function sendError(res: ServerResponse, code: ErrorCode, message: string, extraHeaders: readonly string[] = []): void {
  const body = errorBody(code, message);
  res.writeHead(ERROR_CATALOG[code].status, [
    'content-type',
    'application/json',
    'content-length',
    String(Buffer.byteLength(body)),
    ...extraHeaders,
  ]);
  res.end(body);
}
