import { createServer, type Server } from 'node:http';
import type { Counter } from 'prom-client';
import type { Config } from '../config/types.js';
import type { Logger } from '../shared/logger.js';
import { type OwnEndpoints, serveOwnRoute } from '../shared/own-routes.js';
import type { TenantGate } from '../tenants/tenant-gate.js';
import { installClientErrorHandlers } from './client-errors.js';
import { ConnectionTracker } from './connection-tracker.js';
import { sendError } from './error-response.js';
import type { FailoverContext } from './failover.js';
import { createProxyHandler, type RequestContext } from './proxy-request.js';
import { createRouter } from './router.js';
import type { WorkerAdmission } from './worker-fleet.js';

export interface ProxyServer {
  readonly server: Server;
  /** Stop taking new work: every response from now on closes its connection. */
  startDraining(): void;
  /** Closes client connections that have been idle for `minIdleMs` (see ConnectionTracker). */
  closeIdle(minIdleMs: number): void;
  openConnections(): number;
  /** Requests still in progress. */
  inFlight(): number;
  /** Aborts everything still in flight (drain deadline). */
  abortAll(reason: Error): void;
}

export interface ProxyServerDeps {
  readonly config: Config;
  readonly fleet: FailoverContext & { readonly admission: WorkerAdmission | null };
  readonly malformed: Counter<'status'>;
  readonly log: Logger;
  /** /metrics and /healthz as this worker answers them (metrics merged by the primary, over IPC). */
  readonly own: OwnEndpoints;
  readonly tenants: TenantGate;
}

/** Longest time for a whole request upload; it never applies to responses (long LLM streams). */
const SERVER_REQUEST_TIMEOUT_MS = 300_000;
const MAX_CHECKING_INTERVAL_MS = 30_000;
const MIN_CHECKING_INTERVAL_MS = 100;

/**
 * A worker's HTTP server: each request is either one of the proxy's own pages (/metrics, /healthz,
 * /dashboard, served as on the primary's metrics port) or proxied (see createProxyHandler).
 */
export function createProxyServer(deps: ProxyServerDeps): ProxyServer {
  const { config, log } = deps;
  const router = createRouter(config.stripPrefix);
  const headersTimeout = config.clientHeaderTimeoutMs;
  let draining = false;
  const isDraining = (): boolean => draining;
  const proxy = createProxyHandler({ config, fleet: deps.fleet, malformed: deps.malformed, log, isDraining, tenants: deps.tenants });
  const own: OwnEndpoints = {
    metrics: deps.own.metrics,
    history: deps.own.history,
    health() {
      const answer = deps.own.health();
      return draining ? { status: 503, body: { ...answer.body, status: 'draining' } } : answer;
    },
  };

  const server = createServer(
    {
      keepAliveTimeout: config.keepAliveTimeoutMs,
      headersTimeout,
      requestTimeout: Math.max(SERVER_REQUEST_TIMEOUT_MS, headersTimeout),
      // The header and request timeouts are enforced at this granularity (slowloris cut-off).
      connectionsCheckingInterval: Math.min(MAX_CHECKING_INTERVAL_MS, Math.max(MIN_CHECKING_INTERVAL_MS, Math.floor(headersTimeout / 4))),
    },
    (req, res) => {
      const startMs = performance.now();
      if (draining) res.shouldKeepAlive = false;
      const connection = connections.requestStarted(req.socket);
      const context: RequestContext = { exchange: null };
      // The one 'close' listener of a request: connection bookkeeping, in-flight set and the exchange.
      res.on('close', () => {
        connections.requestEnded(connection);
        proxy.closed(context);
      });
      const route = router.route(req.method as string, req.url as string);
      const handled = route.kind === 'own' ? serveOwnRoute(route.page, req, res, own) : proxy.handle(req, res, route, context, startMs);
      handled.catch((err: unknown) => {
        log.error({ err }, 'request handler failed');
        if (!res.headersSent) sendError(res, 'internal_error', 'the proxy failed to handle the request');
        else res.destroy();
      });
    },
  );
  // Socket inactivity timeout stays off: a silent prefill must not cut a stream.
  server.timeout = 0;
  installClientErrorHandlers(server, deps.malformed);
  const connections = new ConnectionTracker(server);

  return {
    server,
    startDraining() {
      draining = true;
    },
    closeIdle: (minIdleMs) => connections.closeIdle(minIdleMs),
    openConnections: () => connections.size,
    inFlight: () => proxy.inFlight(),
    abortAll: (reason) => proxy.abortAll(reason),
  };
}
