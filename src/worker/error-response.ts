import type { ServerResponse } from 'node:http';
import { ERROR_CATALOG, type ErrorCode, errorBody } from '../shared/error-catalog.js';
import { answerFor, type ClientAnswer, classifyError } from './failures.js';

/** The proxy's answer to a failure that ends a request before any byte reached the client: a lookup in the failure table. */
export function mapError(err: unknown): ClientAnswer {
  return answerFor(classifyError(err), err) ?? { code: 'backend_error', message: 'the backend connection failed' };
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
