import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OWN_PATHS, type OwnEndpoints, serveOwnRoute } from '../shared/own-routes.js';

/** The primary's own port for the proxy's own pages (e.g. on loopback when the main port is public). */
export function createMetricsServer(endpoints: OwnEndpoints): Server {
  return createServer((req, res) => {
    const route = OWN_PATHS.get((req.url ?? '/').split('?')[0] ?? '/');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (route === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`only ${[...OWN_PATHS.keys()].join(', ')} are served here\n`);
      return;
    }
    void serveOwnRoute(route, req, res, endpoints);
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
