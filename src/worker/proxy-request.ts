import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Counter } from 'prom-client';
import type { Config } from '../config/types.js';
import { CompletionTracker } from '../llm/completion-tracker.js';
import { injectUsageRequest, needsUsageInjection } from '../llm/inject-usage.js';
import { inspectCompletionRequest } from '../llm/inspect-request.js';
import { createKeyReader } from '../routing/routing-key.js';
import type { Logger } from '../shared/logger.js';
import { AccessLog } from './access-log.js';
import { createApiKeyCheck } from './api-key-auth.js';
import { sendError } from './error-response.js';
import { Failover, type FailoverContext } from './failover.js';
import { classifyError } from './failures.js';
import { buildUpstreamHeaders, isUsableRequestId } from './headers.js';
import { ProxyExchange } from './proxy-exchange.js';
import { readBody } from './read-body.js';
import type { Route } from './router.js';

/** What the request's 'close' listener needs to know about it. */
export interface RequestContext {
  exchange: ProxyExchange | null;
}

export interface ProxyHandlerDeps {
  readonly config: Config;
  readonly fleet: FailoverContext;
  readonly malformed: Counter<'status'>;
  readonly log: Logger;
  readonly isDraining: () => boolean;
}

export interface ProxyHandler {
  handle(
    req: IncomingMessage,
    res: ServerResponse,
    route: Exclude<Route, { kind: 'own' }>,
    context: RequestContext,
    startMs: number,
  ): Promise<void>;
  /** The response closed (finished, or the client left). */
  closed(context: RequestContext): void;
  inFlight(): number;
  abortAll(reason: Error): void;
}

/** Seconds a shed client is asked to wait before trying again. */
const RETRY_AFTER_S = '1';
const MODELS_ENDPOINT = '/v1/models';

/**
 * Everything that is not one of the proxy's own pages: refused targets and methods, then authentication,
 * load shedding, reading and inspecting a body that names its model (a completion, embeddings, rerank, ...),
 * and finally a ProxyExchange that chooses a backend (after the body, so that its model steers the choice)
 * and relays the answer.
 */
export function createProxyHandler(deps: ProxyHandlerDeps): ProxyHandler {
  const { config, fleet, log, isDraining } = deps;
  const authorized = createApiKeyCheck(config.apiKeyDigests);
  const keyOf = createKeyReader(config);
  const accessLog = config.accessLog ? new AccessLog(log) : null;
  const exchanges = new Set<ProxyExchange>();

  async function handle(
    req: IncomingMessage,
    res: ServerResponse,
    route: Exclude<Route, { kind: 'own' }>,
    context: RequestContext,
    startMs: number,
  ): Promise<void> {
    if (route.kind === 'bad-target') {
      // An absolute-form target is how open proxies are probed: count it and say so in the log.
      deps.malformed.labels('400').inc();
      log.warn(
        { method: req.method, target: req.url?.slice(0, 200), peer: req.socket.remoteAddress },
        'absolute-form request target refused',
      );
      sendError(res, 'invalid_request_target', 'the request target must be a path starting with /');
      return;
    }
    if (route.kind === 'method-not-allowed') {
      sendError(res, 'method_not_allowed', `only ${route.allow} are allowed here`, ['allow', route.allow]);
      return;
    }
    const headerId = req.headers['x-request-id'];
    const requestId = isUsableRequestId(typeof headerId === 'string' ? headerId : undefined) ? (headerId as string) : randomUUID();
    const exchange = new ProxyExchange({
      req,
      res,
      endpoint: route.endpoint,
      failover: new Failover(fleet),
      requestId,
      startMs,
      log,
      accessLog,
      isDraining,
      serverTiming: config.serverTiming,
      holdStreamHead: config.holdStreamHead,
    });
    context.exchange = exchange;
    if (authorized !== null && !authorized(req.headers)) {
      exchange.reject('invalid_api_key', 'a valid API key is required (Authorization: Bearer <key>)', ['www-authenticate', 'Bearer']);
      return;
    }
    // Shed instead of queueing without bound; the requests already admitted keep their latency.
    if (exchanges.size >= config.maxInFlightPerWorker) {
      fleet.unrouted.overloaded();
      exchange.reject('proxy_overloaded', 'the proxy is at its in-flight limit; retry shortly', ['retry-after', RETRY_AFTER_S]);
      return;
    }
    if (route.endpoint === MODELS_ENDPOINT && (req.method === 'GET' || req.method === 'HEAD')) {
      exchange.answer(200, JSON.stringify({ object: 'list', data: fleet.backends.modelCards }));
      return;
    }
    exchanges.add(exchange);
    // A body that names the model is read into a Buffer (and may be rewritten): undici sets its Content-Length then.
    const headers = buildUpstreamHeaders(req, requestId, '', route.modelInBody);
    if (!route.modelInBody) {
      exchange.detail.bytesIn = requestBodyLength(req);
      exchange.detail.model = route.pathModel;
      const facts = { model: route.pathModel, key: keyOf(req.headers, null, null) };
      exchange.start({ method: req.method as string, path: route.upstreamPath, headers, body: hasBody(req) ? req : null }, facts);
      return;
    }
    let body: Buffer;
    exchange.reading();
    try {
      body = await readBody(req, config.bodyLimitBytes);
    } catch (err) {
      if (classifyError(err) === 'body_too_large') res.shouldKeepAlive = false;
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
    if (route.completion === null) {
      exchange.start(
        { method: 'POST', path: route.upstreamPath, headers, body },
        { model: info.model, key: keyOf(req.headers, null, null) },
      );
      return;
    }
    exchange.detail.stream = info.stream;
    const inject = config.injectUsage && needsUsageInjection(info);
    const forwarded = inject ? injectUsageRequest(body, info) : body;
    const facts = { model: info.model, key: keyOf(req.headers, route.completion, info.json) };
    exchange.start({ method: 'POST', path: route.upstreamPath, headers, body: forwarded }, facts, new CompletionTracker(startMs, inject));
  }

  return {
    handle,
    closed(context) {
      const exchange = context.exchange;
      if (exchange === null) return;
      exchanges.delete(exchange);
      exchange.clientClosed();
    },
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
