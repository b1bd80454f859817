/**
 * A comparison target for the benchmark: fastify with @fastify/http-proxy (reply-from over an undici Pool),
 * forwarding every path and method to the backend, bodies streamed. One process, no logging.
 * Usage: node dist/bench/targets/fastify-proxy.js --backend URL [--port 0] [--host 127.0.0.1] [--connections 256]
 */
import httpProxy from '@fastify/http-proxy';
import Fastify from 'fastify';
import { parseBaselineArgs } from './baseline-args.js';

const values = parseBaselineArgs();

const app = Fastify({ logger: false });
await app.register(httpProxy, {
  upstream: values.backend,
  // reply-from's own default is 128 connections; give it what the other proxies get.
  undici: { connections: values.connections, pipelining: 1 },
});
await app.listen({ host: values.host, port: values.port });
const address = app.server.address();
console.log(
  JSON.stringify({ msg: 'fastify proxy listening', port: typeof address === 'object' && address !== null ? address.port : null }),
);

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void app.close().finally(() => process.exit(0));
  });
}
