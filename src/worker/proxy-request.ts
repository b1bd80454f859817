import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Counter } from 'prom-client';
import { DEFAULT_PRIORITY_CLASS, PRIORITY_HEADER, requestClass } from '../admission/priority-class.js';
import type { Config } from '../config/types.js';
import { CompletionTracker } from '../llm/completion-tracker.js';
import { withEnginePriority } from '../llm/engine-priority.js';
import { injectUsageRequest, needsUsageInjection } from '../llm/inject-usage.js';
import { inspectCompletionRequest } from '../llm/inspect-request.js';
import { routingPolicy } from '../routing/policy-registry.js';
import { createKeyReader } from '../routing/routing-key.js';
import type { Logger } from '../shared/logger.js';
import { isAdminRoute } from '../tenants/admin-routes.js';
import { requestModel } from '../tenants/request-model.js';
import { type Tenant, type TenantGate, TenantTicket } from '../tenants/tenant-gate.js';
import { AccessLog } from './access-log.js';
import { sendError } from './error-response.js';
import { Failover, type FailoverContext } from './failover.js';
import { classifyError } from './failures.js';
import { buildUpstreamHeaders, isUsableRequestId } from './headers.js';
import { ProxyExchange } from './proxy-exchange.js';
import { readBody } from './read-body.js';
import type { Route } from './router.js';
import type { WorkerAdmission } from './worker-fleet.js';

/** What the request's 'close' listener needs to know about it. */
export interface RequestContext {
  exchange: ProxyExchange | null;
}

export interface ProxyHandlerDeps {
  readonly config: Config;
  readonly fleet: FailoverContext & { readonly admission: WorkerAdmission | null };
  readonly malformed: Counter<'status'>;
  readonly log: Logger;
  readonly isDraining: () => boolean;
  /** Who the key is, what it may reach, and its limits (see tenants/). */
  readonly tenants: TenantGate;
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
/** What a request that is not a completion reserves of its key's tokens: the proxy measures usage on completions only. */
const NO_TOKENS = Object.freeze({ tokens: 0, prompt: 0 });
/** Routes whose body names a model but that give the engine no work to schedule: they never wait in the queue. */
const NO_ENGINE_WORK: ReadonlySet<string> = new Set(['/tokenize', '/detokenize', '/v1/messages/count_tokens']);

/**
 * Everything that is not one of the proxy's own pages: refused targets and methods, then authentication,
 * load shedding, reading and inspecting a body that names its model (a completion, embeddings, rerank, ...),
 * and finally a ProxyExchange that chooses a backend (after the body, so that its model steers the choice)
 * and relays the answer.
 */
export function createProxyHandler(deps: ProxyHandlerDeps): ProxyHandler {
  const { config, fleet, log, isDraining, tenants } = deps;
  const keyOf = createKeyReader(routingPolicy(config.routing).key, config);
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
      admission: fleet.admission,
      queueTimeoutMs: config.queueTimeoutMs,
    });
    context.exchange = exchange;
    const tenant = tenants.identify(req.headers);
    if (tenant === null && tenants.authRequired) {
      exchange.reject('invalid_api_key', 'a valid API key is required (Authorization: Bearer <key>)', ['www-authenticate', 'Bearer']);
      return;
    }
    if (tenant !== null) exchange.tenant = tenants.unlimited(tenant);
    if (isAdminRoute(route.upstreamPath) && !tenants.mayUseAdminRoutes(tenant)) {
      exchange.reject('admin_route_forbidden', 'this route administers the inference engine; the key may not use it', []);
      return;
    }
    // Shed instead of queueing without bound; the requests already admitted keep their latency.
    if (exchanges.size >= config.maxInFlightPerWorker) {
      fleet.unrouted.overloaded();
      exchange.reject('proxy_overloaded', 'the proxy is at its in-flight limit; retry shortly', ['retry-after', RETRY_AFTER_S]);
      return;
    }
    // Its place in the admission queue, should every backend it may use be saturated: its key's class, or
    // the lower one its x-priority header asks for, and its key's fair share (requests without a named key
    // share one).
    const priority = requestClass(tenant?.priority ?? DEFAULT_PRIORITY_CLASS, req.headers[PRIORITY_HEADER]);
    if (priority === undefined) {
      exchange.reject('invalid_priority', `${PRIORITY_HEADER} must be interactive, standard or batch`, []);
      return;
    }
    if (route.modelInBody && !NO_ENGINE_WORK.has(pathOf(route.upstreamPath)))
      exchange.queuePlace = { priority, key: tenant?.name ?? '', weight: tenant?.weight ?? 1 };
    if (route.endpoint === MODELS_ENDPOINT && (req.method === 'GET' || req.method === 'HEAD')) {
      const cards = fleet.backends.modelCards;
      exchange.answer(
        200,
        JSON.stringify({ object: 'list', data: tenant?.restricted ? cards.filter((card) => tenant.mayUse(String(card.id))) : cards }),
      );
      return;
    }
    exchanges.add(exchange);
    // A key limited to some models has any body read for its model too (a multipart form's included).
    const readModel = route.modelInBody || (tenant?.restricted === true && hasBody(req));
    // A body that names the model is read into a Buffer (and may be rewritten): undici sets its Content-Length then.
    const headers = buildUpstreamHeaders(req, requestId, '', readModel);
    if (!readModel) {
      exchange.detail.bytesIn = requestBodyLength(req);
      exchange.detail.model = route.pathModel;
      if (tenant !== null) {
        if (tenant.limited) exchange.reading();
        if (!(await admitted(exchange, tenant, route.pathModel ?? undefined, NO_TOKENS))) return;
      }
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
      if (tenant !== null && !(await admitted(exchange, tenant, requestModel(body, req.headers['content-type']), NO_TOKENS))) return;
      exchange.start(
        { method: 'POST', path: route.upstreamPath, headers, body },
        { model: info.model, key: keyOf(req.headers, null, null) },
      );
      return;
    }
    exchange.detail.stream = info.stream;
    if (tenant !== null && !(await admitted(exchange, tenant, info.model, tenants.reservation(body.length, info.json)))) return;
    const inject = config.injectUsage && needsUsageInjection(info);
    let forwarded = inject ? injectUsageRequest(body, info) : body;
    // vLLM's priority field, for engines that schedule by it (--engine-priority on).
    if (config.enginePriority && info.json !== null) forwarded = withEnginePriority(forwarded, info.json, priority);
    const facts = { model: info.model, key: keyOf(req.headers, route.completion, info.json) };
    exchange.start({ method: 'POST', path: route.upstreamPath, headers, body: forwarded }, facts, new CompletionTracker(startMs, inject));
  }

  /**
   * The key's say on the request: a model it may not use (`model` undefined: the request names none, having
   * no body) gets 403; a key with limits is admitted from what its worker holds, or after a lease from the
   * primary, and a refusal is answered here (429, or 503 when the limits cannot be decided). True when the
   * request may go on.
   */
  async function admitted(
    exchange: ProxyExchange,
    tenant: Tenant,
    model: string | null | undefined,
    reserve: { tokens: number; prompt: number },
  ): Promise<boolean> {
    if (tenant.restricted && model !== undefined && (model === null || !tenant.mayUse(model))) {
      tenant.recorder.rejected('model');
      const what = model === null ? 'the request names no model' : `the key may not use the model ${JSON.stringify(model)}`;
      exchange.reject('model_not_allowed', what, []);
      return false;
    }
    if (!tenant.limited) return true;
    const admission = tenants.admit(tenant, reserve);
    const outcome = admission instanceof Promise ? await admission : admission;
    if (outcome instanceof TenantTicket) {
      exchange.tenant = outcome;
      return true;
    }
    if (outcome.limit !== null) tenant.recorder.rejected(outcome.limit);
    exchange.reject(outcome.code, outcome.message, outcome.headers);
    return false;
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

function pathOf(target: string): string {
  const queryAt = target.indexOf('?');
  return queryAt === -1 ? target : target.slice(0, queryAt);
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
