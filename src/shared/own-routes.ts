import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendDashboard } from '../dashboard/send-dashboard.js';

/** The proxy's own pages, answered by every worker and by the primary's --metrics-port; never forwarded. */
export const OWN_PATHS: ReadonlyMap<string, OwnRoute> = new Map([
  ['/metrics', 'metrics'],
  ['/healthz', 'healthz'],
  ['/dashboard', 'dashboard'],
  ['/dashboard/history', 'dashboard-history'],
  ['/livez', 'livez'],
] as const);

export type OwnRoute = 'metrics' | 'healthz' | 'dashboard' | 'dashboard-history' | 'livez';

/** /livez: the process answers. Unlike /healthz it does not depend on the backends, so an orchestrator's liveness check never restarts the proxy because a GPU server is down. */
const LIVE_BODY = (): string => JSON.stringify({ status: 'ok', pid: process.pid });

interface TextAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

/** Where the answers come from: the primary merges metrics for the whole proxy; health is local knowledge. */
export interface OwnEndpoints {
  metrics(): Promise<TextAnswer>;
  /** The primary's ring of the dashboard's series (JSON), so the page shows history the moment it opens. */
  history(): Promise<TextAnswer>;
  /** The /healthz status (200, or 503 while draining or with no backend up) and its JSON body. */
  health(): { readonly status: number; readonly body: Record<string, unknown> };
}

/** Serves one of the proxy's own pages (GET or HEAD; the caller has checked the method). */
export async function serveOwnRoute(route: OwnRoute, req: IncomingMessage, res: ServerResponse, endpoints: OwnEndpoints): Promise<void> {
  const head = req.method === 'HEAD';
  switch (route) {
    case 'metrics':
    case 'dashboard-history': {
      const answer = await (route === 'metrics' ? endpoints.metrics() : endpoints.history());
      res.writeHead(answer.status, { 'content-type': answer.contentType, 'content-length': Buffer.byteLength(answer.body) });
      res.end(head ? undefined : answer.body);
      return;
    }
    case 'healthz': {
      const { status, body } = endpoints.health();
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(head ? undefined : text);
      return;
    }
    case 'dashboard':
      sendDashboard(res, head);
      return;
    case 'livez': {
      const text = LIVE_BODY();
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(head ? undefined : text);
      return;
    }
  }
}
