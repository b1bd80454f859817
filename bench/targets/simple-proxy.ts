/**
 * The simple Node proxy the benchmark compares with, the strongest one an afternoon gives: node:http in front,
 * one undici Pool per process, and Pool.stream(), which writes the backend's body straight into the
 * ServerResponse (no Readable in between, no pipeline()). Hop-by-hop headers dropped; no logging, no metrics.
 * With --workers N > 1, node:cluster forks N workers that share the port (its primary serves nothing).
 * Usage: node dist/bench/targets/simple-proxy.js --backend URL [--port 0] [--host 127.0.0.1] [--connections 256] [--workers 1]
 */
import cluster from 'node:cluster';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import { type Dispatcher, Pool } from 'undici';
import { parseBaselineArgs } from './baseline-args.js';

const values = parseBaselineArgs();
const READY = 'simple proxy listening';
const WORKER_READY = 'simple-proxy:listening';

// RFC 9110 7.6.1: connection-specific fields, never forwarded.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** The end-to-end fields of `headers`: not hop-by-hop, not named by its Connection field, not `skip`. */
function endToEnd(headers: IncomingHttpHeaders, skip: string | null): Record<string, string | string[]> {
  const listed = headers.connection === undefined ? null : headers.connection.toLowerCase().split(/\s*,\s*/);
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || name === skip || HOP_BY_HOP.has(name) || listed?.includes(name)) continue;
    out[name] = value;
  }
  return out;
}

/** Pool.stream's factory: the response head goes out as it came, and undici writes the body into the response. */
function intoResponse({ statusCode, headers, opaque }: Dispatcher.StreamFactoryData<ServerResponse>): ServerResponse {
  opaque.writeHead(statusCode, endToEnd(headers, null));
  return opaque;
}

function serve(announce: (port: number | null) => void): void {
  const pool = new Pool(values.backend, { connections: values.connections, pipelining: 1 });
  const server = createServer((req, res) => {
    const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
    // A client that leaves is noticed once the head is in: undici watches the response it writes into and aborts.
    pool.stream(
      {
        method: req.method as Dispatcher.HttpMethod,
        path: req.url ?? '/',
        headers: endToEnd(req.headers, 'host'),
        body: hasBody ? req : null,
        opaque: res,
      },
      intoResponse,
      (err) => {
        if (err === null) return;
        if (res.headersSent) res.destroy();
        else res.writeHead(502).end();
      },
    );
  });
  server.listen(values.port, values.host, () => {
    const address = server.address();
    announce(typeof address === 'object' && address !== null ? address.port : null);
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      server.close();
      server.closeAllConnections();
      void pool.close().finally(() => process.exit(0));
    });
  }
}

/** Forks the workers and announces the port once every one of them listens (the bench waits for that line). */
function supervise(): void {
  let ready = 0;
  cluster.on('message', (_worker, message: { type?: string; port?: number | null }) => {
    if (message.type === WORKER_READY && ++ready === values.workers) {
      console.log(JSON.stringify({ msg: READY, port: message.port, workers: values.workers }));
    }
  });
  for (let i = 0; i < values.workers; i++) cluster.fork();
  // The bench signals the whole process group: the workers close themselves, the primary leaves after them.
  let stopping = false;
  const leaveWhenAlone = (): void => {
    if (stopping && Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
  };
  cluster.on('exit', leaveWhenAlone);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      stopping = true;
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
      leaveWhenAlone();
    });
  }
}

if (values.workers === 1) serve((port) => console.log(JSON.stringify({ msg: READY, port })));
else if (cluster.isPrimary) supervise();
else serve((port) => process.send?.({ type: WORKER_READY, port }));
