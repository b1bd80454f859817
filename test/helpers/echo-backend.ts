import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';

export interface EchoBackend {
  readonly url: string;
  readonly port: number;
  /** TCP connections accepted: counts keep-alive reuse. */
  connections: number;
  /** Requests whose connection closed before their response finished (an abort reached the backend). */
  aborted: number;
  requests: number;
  /** Bytes /flood has handed to its socket so far (it honours backpressure). */
  floodWritten: number;
  /** Resolves at the next abort the backend sees. */
  nextAbort(timeoutMs?: number): Promise<void>;
}

/**
 * A plain HTTP backend for forwarding tests, steered by path:
 * /echo* reflects the request as JSON; /binary?size=N sends N deterministic bytes; /sse?n=N&gap=MS
 * sends N events MS apart; /sse-burst?bursts=B&n=N&gap=MS sends B bursts MS apart, each N events (each its own HTTP
 * chunk) in one TCP write; /hang never answers; /hang-stream sends headers and one event, then nothing;
 * /hop answers with hop-by-hop headers that must not reach the client; /flood writes without end, with backpressure.
 */
export async function startEchoBackend(t: TestContext): Promise<EchoBackend> {
  const waiters: Array<() => void> = [];
  const state = {
    url: '',
    port: 0,
    connections: 0,
    aborted: 0,
    requests: 0,
    floodWritten: 0,
    nextAbort(timeoutMs = 5_000): Promise<void> {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the backend saw no abort')), timeoutMs);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
  const server = createServer((req, res) => {
    state.requests++;
    res.on('close', () => {
      if (res.writableFinished) return;
      state.aborted++;
      for (const waiter of waiters.splice(0)) waiter();
    });
    if (req.url?.startsWith('/flood')) flood(res, state);
    else handle(req, res);
  });
  server.on('connection', () => state.connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as AddressInfo).port;
  state.url = `http://127.0.0.1:${state.port}`;
  t.after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return state;
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url as string, 'http://backend');
  if (url.pathname.startsWith('/echo') || url.pathname.startsWith('/v1/')) {
    echo(req, res);
    return;
  }
  if (url.pathname === '/binary') {
    const size = Number(url.searchParams.get('size') ?? '1024');
    const body = deterministicBytes(size);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
    res.end(body);
    return;
  }
  if (url.pathname === '/sse') {
    const n = Number(url.searchParams.get('n') ?? '5');
    const gap = Number(url.searchParams.get('gap') ?? '50');
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.flushHeaders();
    let i = 0;
    const timer = setInterval(() => {
      if (i < n) res.write(`data: {"i":${i++}}\n\n`);
      else {
        clearInterval(timer);
        res.end('data: [DONE]\n\n');
      }
    }, gap);
    res.on('close', () => clearInterval(timer));
    return;
  }
  if (url.pathname === '/sse-burst') {
    sseBursts(
      res,
      Number(url.searchParams.get('bursts') ?? '3'),
      Number(url.searchParams.get('n') ?? '4'),
      Number(url.searchParams.get('gap') ?? '30'),
    );
    return;
  }
  if (url.pathname === '/hang') {
    req.resume();
    return;
  }
  if (url.pathname === '/hang-stream') {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: {"i":0}\n\n');
    return;
  }
  if (url.pathname === '/hop') {
    res.writeHead(200, [
      'content-type',
      'text/plain',
      'keep-alive',
      'timeout=5',
      'connection',
      'x-drop-me',
      'x-drop-me',
      '1',
      'upgrade',
      'h2c',
      'x-kept',
      'yes',
      'set-cookie',
      'a=1',
      'set-cookie',
      'b=2',
    ]);
    res.end('hop');
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('not found');
}

/** Event `i` of /sse-burst: `data: {"i":i}`. */
export const burstEvent = (i: number): string => `data: {"i":${i}}\n\n`;

function sseBursts(res: ServerResponse, bursts: number, n: number, gap: number): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.flushHeaders();
  let sent = 0;
  let burst = 0;
  const timer = setInterval(() => {
    if (burst++ === bursts) {
      clearInterval(timer);
      res.end('data: [DONE]\n\n');
      return;
    }
    // Corked: the N chunks leave in one writev, so the proxy reads them at once.
    res.socket?.cork();
    for (let i = 0; i < n; i++) res.write(burstEvent(sent++));
    res.socket?.uncork();
  }, gap);
  res.on('close', () => clearInterval(timer));
}

const FLOOD_CHUNK = Buffer.alloc(64 * 1024, 120);

/** Writes chunks as fast as the socket takes them, waiting for 'drain' whenever write() says so. */
function flood(res: ServerResponse, state: { floodWritten: number }): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  const pump = (): void => {
    while (!res.destroyed) {
      state.floodWritten += FLOOD_CHUNK.length;
      if (!res.write(FLOOD_CHUNK)) {
        res.once('drain', pump);
        return;
      }
    }
  };
  pump();
}

function echo(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const reply = JSON.stringify({
      method: req.method,
      url: req.url,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      bodyLength: body.length,
      sha256: createHash('sha256').update(body).digest('hex'),
      bodyBase64: body.length <= 65_536 ? body.toString('base64') : null,
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(reply) });
    res.end(reply);
  });
}

export function deterministicBytes(size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + 7) & 0xff;
  return out;
}
