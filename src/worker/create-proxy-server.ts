import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Counter } from 'prom-client';
import type { Config } from '../config/types.js';
import { sendDashboard } from '../dashboard/send-dashboard.js';
import { CompletionTracker } from '../llm/completion-tracker.js';
import { injectUsageRequest, needsUsageInjection } from '../llm/inject-usage.js';
import { inspectCompletionRequest } from '../llm/inspect-request.js';
import type { RequestRecorder } from '../metrics/request-recorder.js';
import type { Logger } from '../shared/logger.js';
import { AccessLog } from './access-log.js';
import { createApiKeyCheck } from './api-key-auth.js';
import { installClientErrorHandlers } from './client-errors.js';
import { ConnectionTracker } from './connection-tracker.js';
import { mapError, sendJsonError } from './error-response.js';
import { buildUpstreamHeaders, isUsableRequestId } from './headers.js';
import { ProxyExchange } from './proxy-exchange.js';
import { readBody } from './read-body.js';
import { createRouter } from './router.js';
import type { UpstreamSet } from './upstream-set.js';

/** Where /metrics, /dashboard/history and /healthz answers come from (the primary, over IPC, in a cluster). */
export interface LocalEndpoints {
  metrics(): Promise<{ status: number; contentType: string; body: string }>;
  history(): Promise<{ status: number; contentType: string; body: string }>;
  health(): Record<string, unknown>;
}

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
  readonly upstreams: UpstreamSet;
  readonly recorder: RequestRecorder;
  readonly malformed: Counter<'status'>;
  readonly log: Logger;
  readonly local: LocalEndpoints;
}

/** What the request's 'close' listener needs to know about it. */
interface RequestContext {
  exchange: ProxyExchange | null;
}

/** Longest time for a whole request upload; it never applies to responses (long LLM streams). */
const SERVER_REQUEST_TIMEOUT_MS = 300_000;
const MAX_CHECKING_INTERVAL_MS = 30_000;
const MIN_CHECKING_INTERVAL_MS = 100;
/** Seconds a shed client is asked to wait before trying again. */
const RETRY_AFTER_S = '1';

export function createProxyServer(deps: ProxyServerDeps): ProxyServer {
  const { config, upstreams, recorder, log, local } = deps;
  const router = createRouter(config.stripPrefix);
  const authorized = createApiKeyCheck(config.apiKeyDigests);
  const accessLog = config.accessLog ? new AccessLog(log) : null;
  const headersTimeout = config.clientHeaderTimeoutMs;
  const exchanges = new Set<ProxyExchange>();
  let draining = false;
  const isDraining = (): boolean => draining;

  const server = createServer(
    {
      keepAliveTimeout: config.keepAliveTimeoutMs,
      headersTimeout,
      requestTimeout: Math.max(SERVER_REQUEST_TIMEOUT_MS, headersTimeout),
      // The header and request timeouts are enforced at this granularity (slowloris cut-off).
      connectionsCheckingInterval: Math.min(MAX_CHECKING_INTERVAL_MS, Math.max(MIN_CHECKING_INTERVAL_MS, Math.floor(headersTimeout / 4))),
    },
    (req, res) => {
      const connection = connections.requestStarted(req.socket);
      const context: RequestContext = { exchange: null };
      // The one 'close' listener of a request: connection bookkeeping, in-flight set and the exchange.
      res.on('close', () => {
        connections.requestEnded(connection);
        const exchange = context.exchange;
        if (exchange === null) return;
        exchanges.delete(exchange);
        exchange.clientClosed();
      });
      handle(req, res, context).catch((err: unknown) => {
        log.error({ err }, 'request handler failed');
        if (!res.headersSent) sendJsonError(res, 500, 'internal_error', 'internal_error', 'the proxy failed to handle the request');
        else res.destroy();
      });
    },
  );
  // Socket inactivity timeout stays off: a silent prefill must not cut a stream.
  server.timeout = 0;
  installClientErrorHandlers(server, deps.malformed);
  const connections = new ConnectionTracker(server);

  async function handle(req: IncomingMessage, res: ServerResponse, context: RequestContext): Promise<void> {
    const startMs = performance.now();
    if (draining) res.shouldKeepAlive = false;
    const route = router.route(req.method as string, req.url as string);
    switch (route.kind) {
      case 'metrics':
      case 'dashboard-history': {
        const answer = await (route.kind === 'metrics' ? local.metrics() : local.history());
        res.writeHead(answer.status, { 'content-type': answer.contentType, 'content-length': Buffer.byteLength(answer.body) });
        res.end(req.method === 'HEAD' ? undefined : answer.body);
        return;
      }
      case 'healthz': {
        const body = JSON.stringify({ status: draining ? 'draining' : 'ok', ...local.health() });
        res.writeHead(draining ? 503 : 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(req.method === 'HEAD' ? undefined : body);
        return;
      }
      case 'dashboard':
        sendDashboard(res, req.method === 'HEAD');
        return;
      case 'bad-target':
        // An absolute-form target is how open proxies are probed: count it and say so in the log.
        deps.malformed.labels('400').inc();
        log.warn(
          { method: req.method, target: req.url?.slice(0, 200), peer: req.socket.remoteAddress },
          'absolute-form request target refused',
        );
        sendJsonError(res, 400, 'invalid_request_error', 'invalid_request_target', 'the request target must be a path starting with /');
        return;
      case 'method-not-allowed':
        sendJsonError(res, 405, 'invalid_request_error', 'method_not_allowed', `only ${route.allow} are allowed here`, [
          'allow',
          route.allow,
        ]);
        return;
    }
    const upstream = upstreams.select();
    const headerId = req.headers['x-request-id'];
    const requestId = isUsableRequestId(typeof headerId === 'string' ? headerId : undefined) ? (headerId as string) : randomUUID();
    const routeRecorder = recorder.route(upstream.index, route.endpoint);
    routeRecorder.arrived();
    const exchange = new ProxyExchange({
      req,
      res,
      recorder: routeRecorder,
      upstream,
      requestId,
      startMs,
      log,
      accessLog,
      isDraining,
    });
    context.exchange = exchange;
    if (authorized !== null && !authorized(req.headers)) {
      exchange.reject(401, 'invalid_request_error', 'invalid_api_key', 'a valid API key is required (Authorization: Bearer <key>)', [
        'www-authenticate',
        'Bearer',
      ]);
      return;
    }
    // Shed instead of queueing without bound; the requests already admitted keep their latency.
    if (exchanges.size >= config.maxInFlightPerWorker) {
      routeRecorder.backend.overloaded();
      exchange.reject(503, 'overloaded', 'proxy_overloaded', 'the proxy is at its in-flight limit; retry shortly', [
        'retry-after',
        RETRY_AFTER_S,
      ]);
      return;
    }
    exchanges.add(exchange);
    const path = upstream.backend.basePath + route.upstreamPath;
    // A completion body is read into a Buffer (and may be rewritten): undici sets its Content-Length then.
    const headers = buildUpstreamHeaders(req, requestId, upstream.host, route.completion !== null);
    if (route.completion === null) {
      exchange.detail.bytesIn = requestBodyLength(req);
      exchange.dispatch(req.method as string, path, headers, hasBody(req) ? req : null);
      return;
    }
    let body: Buffer;
    try {
      body = await readBody(req, config.bodyLimitBytes);
    } catch (err) {
      if (mapError(err).status === 413) res.shouldKeepAlive = false;
      exchange.fail(err);
      return;
    }
    if (exchange.clientGone) {
      exchange.fail(new Error('client gone'));
      return;
    }
    const info = inspectCompletionRequest(body);
    exchange.detail.bytesIn = body.length;
    exchange.detail.model = info.model;
    exchange.detail.stream = info.stream;
    const inject = config.injectUsage && needsUsageInjection(info);
    const forwarded = inject ? injectUsageRequest(body, info) : body;
    exchange.dispatch('POST', path, headers, forwarded, new CompletionTracker(startMs, inject));
  }

  return {
    server,
    startDraining() {
      draining = true;
    },
    closeIdle: (minIdleMs) => connections.closeIdle(minIdleMs),
    openConnections: () => connections.size,
    inFlight: () => exchanges.size,
    abortAll(reason) {
      for (const exchange of exchanges) exchange.abort(reason);
    },
  };
}

function hasBody(req: IncomingMessage): boolean {
  return (
    req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0')
  );
}

function requestBodyLength(req: IncomingMessage): number | null {
  const length = req.headers['content-length'];
  return length === undefined ? (hasBody(req) ? null : 0) : Number(length);
}
