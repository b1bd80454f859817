import { type Server, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Counter } from 'prom-client';
import { errorBody } from './error-response.js';

// llhttp's codes for requests Node cannot parse; everything else that is malformed is a plain 400.
const STATUS_BY_CODE: Record<string, number> = {
  HPE_HEADER_OVERFLOW: 431,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
  HPE_REQUEST_TIMEOUT: 408,
};

function rawResponse(status: number, code: string, message: string): string {
  const body = errorBody('invalid_request_error', code, message);
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
    const status = STATUS_BY_CODE[err.code ?? ''] ?? 400;
    // A response already under way on this connection (pipelining) cannot be followed by another one.
    const inProgress = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
    if (err.code === 'ECONNRESET' || !socket.writable || inProgress) {
      socket.destroy();
      return;
    }
    malformed.labels(String(status)).inc();
    const message =
      status === 431
        ? 'the request headers are too large'
        : status === 408
          ? 'the request headers took too long'
          : 'the request could not be parsed';
    socket.end(rawResponse(status, status === 400 ? 'bad_request' : status === 431 ? 'headers_too_large' : 'request_timeout', message));
  });
  // Tunnels would let a client reach any host through us: refuse CONNECT outright.
  server.on('connect', (_req, socket: Socket) => {
    malformed.labels('405').inc();
    socket.end(rawResponse(405, 'method_not_allowed', 'CONNECT is not supported: this is a reverse proxy, not a tunnel'));
  });
}
