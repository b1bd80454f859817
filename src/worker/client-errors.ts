import { type Server, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Counter } from 'prom-client';
import { ERROR_CATALOG, type ErrorCode, errorBody } from '../shared/error-catalog.js';

// llhttp's codes for requests Node cannot parse; everything else that is malformed is a plain 400.
const ERROR_BY_LLHTTP_CODE: Record<string, { code: ErrorCode; message: string }> = {
  HPE_HEADER_OVERFLOW: { code: 'headers_too_large', message: 'the request headers are too large' },
  ERR_HTTP_REQUEST_TIMEOUT: { code: 'request_timeout', message: 'the request headers took too long' },
  HPE_REQUEST_TIMEOUT: { code: 'request_timeout', message: 'the request headers took too long' },
};
const UNPARSABLE = { code: 'bad_request', message: 'the request could not be parsed' } as const;

/** A whole response written on a socket that never became a request (and is closed after it). */
function rawResponse(code: ErrorCode, message: string): string {
  const body = errorBody(code, message);
  const status = ERROR_CATALOG[code].status;
  return `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}

/**
 * Requests that never become a request event: unparsable ones (bad request line, conflicting
 * Content-Length and Transfer-Encoding and other smuggling shapes, oversized headers, headers too slow)
 * and CONNECT. Each gets a precise status with an OpenAI-style body, and the connection is closed: nothing
 * of it is ever forwarded.
 */
export function installClientErrorHandlers(server: Server, malformed: Counter<'status'>): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const error = ERROR_BY_LLHTTP_CODE[err.code ?? ''] ?? UNPARSABLE;
    // A response already under way on this connection (pipelining) cannot be followed by another one.
    const inProgress = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
    if (err.code === 'ECONNRESET' || !socket.writable || inProgress) {
      socket.destroy();
      return;
    }
    malformed.labels(String(ERROR_CATALOG[error.code].status)).inc();
    socket.end(rawResponse(error.code, error.message));
  });
  // Tunnels would let a client reach any host through us: refuse CONNECT outright.
  server.on('connect', (_req, socket: Socket) => {
    malformed.labels('405').inc();
    socket.end(rawResponse('method_not_allowed', 'CONNECT is not supported: this is a reverse proxy, not a tunnel'));
  });
}
