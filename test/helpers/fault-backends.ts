import { createHash } from 'node:crypto';
import { createServer as createHttpServer, type ServerResponse } from 'node:http';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import type { TestContext } from 'node:test';

export interface SeenRequest {
  /** 1-based number of the TCP connection it came on, and its position on that connection. */
  readonly connection: number;
  readonly index: number;
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly bodySha256: string;
  readonly bodyLength: number;
}

export interface RaceBackend {
  readonly url: string;
  readonly port: number;
  connections: number;
  readonly requests: SeenRequest[];
}

interface ParsedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  /** Bytes of the buffer this request used. */
  readonly used: number;
}

/**
 * A raw TCP backend that reproduces the keep-alive race: the first request on each connection gets a
 * keep-alive 200 with a Content-Length body (JSON describing what it saw); a second request on the same
 * connection is read completely and then the socket is destroyed without a byte of answer, as a server
 * that closed an idle connection just as it was reused. Steering headers, whatever the position:
 *   x-partial: 1       answers 200 with a chunked SSE head and one event, then destroys the socket
 *   x-close-always: 1  destroys the socket without answering
 *   x-delay-ms: <ms>   delays the keep-alive 200 (to hold several connections open at once)
 */
export async function startRaceBackend(t: TestContext): Promise<RaceBackend> {
  const sockets = new Set<Socket>();
  const state = { url: '', port: 0, connections: 0, requests: [] as SeenRequest[] };
  const server = createServer((socket) => {
    const connection = ++state.connections;
    let index = 0;
    let pending = Buffer.alloc(0);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const parsed = parseRequest(pending);
        if (parsed === null || socket.destroyed) return;
        pending = pending.subarray(parsed.used);
        index++;
        state.requests.push({
          connection,
          index,
          method: parsed.method,
          path: parsed.path,
          headers: parsed.headers,
          bodySha256: createHash('sha256').update(parsed.body).digest('hex'),
          bodyLength: parsed.body.length,
        });
        if (parsed.headers['x-partial'] === '1') {
          const event = 'data: {"i":0}\n\n';
          const head = 'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n';
          socket.write(`${head}${Buffer.byteLength(event).toString(16)}\r\n${event}\r\n`, () => socket.destroy());
          return;
        }
        if (parsed.headers['x-close-always'] === '1' || index >= 2) {
          socket.destroy();
          return;
        }
        const body = JSON.stringify({ connection, index, method: parsed.method, path: parsed.path, bodyLength: parsed.body.length });
        const answer = `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: keep-alive\r\n\r\n${body}`;
        const delayMs = Number(parsed.headers['x-delay-ms'] ?? '0');
        if (delayMs > 0) setTimeout(() => socket.destroyed || socket.write(answer), delayMs);
        else socket.write(answer);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as AddressInfo).port;
  state.url = `http://127.0.0.1:${state.port}`;
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return state;
}

/** One complete HTTP/1.1 request at the start of `data` (Content-Length or chunked body), or null if incomplete. */
function parseRequest(data: Buffer): ParsedRequest | null {
  const headEnd = data.indexOf('\r\n\r\n');
  if (headEnd === -1) return null;
  const lines = data.subarray(0, headEnd).toString('latin1').split('\r\n');
  const [method = '', path = ''] = (lines[0] ?? '').split(' ');
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let at = headEnd + 4;
  if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
    const parts: Buffer[] = [];
    for (;;) {
      const lineEnd = data.indexOf('\r\n', at);
      if (lineEnd === -1) return null;
      const size = Number.parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
      if (Number.isNaN(size)) throw new Error('race backend: bad chunk size');
      at = lineEnd + 2;
      if (size === 0) {
        // No trailers in these tests: the last chunk is followed by the empty line.
        if (data.length < at + 2) return null;
        return { method, path, headers, body: Buffer.concat(parts), used: at + 2 };
      }
      if (data.length < at + size + 2) return null;
      parts.push(data.subarray(at, at + size));
      at += size + 2;
    }
  }
  const length = Number(headers['content-length'] ?? '0');
  if (data.length < at + length) return null;
  return { method, path, headers, body: Buffer.from(data.subarray(at, at + length)), used: at + length };
}

export interface GateBackend {
  readonly url: string;
  /** Requests that arrived (their bodies read). */
  readonly arrived: number;
  /** Answers every held request and every later one at once. */
  release(): void;
}

/** An HTTP backend that holds every request until release(): admission tests without timing guesses. */
export async function startGateBackend(t: TestContext): Promise<GateBackend> {
  const held: ServerResponse[] = [];
  let open = false;
  let arrived = 0;
  const answer = (res: ServerResponse): void => {
    if (!res.destroyed) res.writeHead(200, { 'content-type': 'application/json', 'content-length': 11 }).end('{"ok":true}');
  };
  const server = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => {
      arrived++;
      if (open) answer(res);
      else held.push(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  t.after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    get arrived() {
      return arrived;
    },
    release() {
      open = true;
      for (const res of held.splice(0)) answer(res);
    },
  };
}
