/**
 * The baseline for the benchmark: the "simple undici proxy in Node" anyone would write in an afternoon.
 * One process, node:http in front, one undici Pool to the backend, bodies streamed both ways, no metrics,
 * no logging. Usage: node dist/bench/simple-proxy.js --backend URL [--port 0] [--host 127.0.0.1] [--connections 256]
 */
import { createServer, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { Pool } from 'undici';
import { parseBaselineArgs } from './baseline-args.js';

const values = parseBaselineArgs();

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

/** Copies a header map without the hop-by-hop fields (and those the Connection header names). */
function endToEnd(
  headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>,
  drop: readonly string[] = [],
): OutgoingHttpHeaders {
  const named = String(headers.connection ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase());
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.includes(name) || drop.includes(name)) continue;
    out[name] = value;
  }
  return out;
}

const pool = new Pool(values.backend, { connections: values.connections, pipelining: 1 });

const server = createServer(async (req, res) => {
  const abort = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
  try {
    const upstream = await pool.request({
      method: req.method as 'GET',
      path: req.url ?? '/',
      headers: endToEnd(req.headers, ['host']) as Record<string, string>,
      body: hasBody ? req : null,
      signal: abort.signal,
    });
    res.writeHead(upstream.statusCode, endToEnd(upstream.headers));
    await pipeline(upstream.body, res);
  } catch {
    if (!res.headersSent) res.writeHead(502).end();
    else res.destroy();
  }
});

server.listen(values.port, values.host, () => {
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : null;
  console.log(JSON.stringify({ msg: 'simple proxy listening', port }));
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    server.close();
    server.closeAllConnections();
    void pool.close().finally(() => process.exit(0));
  });
}
