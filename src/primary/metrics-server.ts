import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sendDashboard } from '../dashboard/send-dashboard.js';

export interface MetricsEndpoints {
  metrics(): Promise<{ status: number; contentType: string; body: string }>;
  history(): { status: number; contentType: string; body: string };
  health(): Record<string, unknown>;
}

/** The primary's own port for /metrics, /healthz and the dashboard (e.g. on loopback when the main port is public). */
export function createMetricsServer(endpoints: MetricsEndpoints): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (path === '/healthz') {
      const body = JSON.stringify({ status: 'ok', ...endpoints.health() });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
      return;
    }
    if (path === '/dashboard') {
      sendDashboard(res, req.method === 'HEAD');
      return;
    }
    if (path !== '/metrics' && path !== '/dashboard/history') {
      res
        .writeHead(404, { 'content-type': 'text/plain' })
        .end('only /metrics, /healthz, /dashboard and /dashboard/history are served here\n');
      return;
    }
    void (path === '/metrics' ? endpoints.metrics() : Promise.resolve(endpoints.history())).then((answer) => {
      res.writeHead(answer.status, { 'content-type': answer.contentType, 'content-length': Buffer.byteLength(answer.body) });
      res.end(req.method === 'HEAD' ? undefined : answer.body);
    });
  });
}

export function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
