import type { IncomingMessage, ServerResponse } from 'node:http';
import type { PriorityClass } from '../admission/priority-class.js';
import type { CompletionResult, CompletionTracker, Ending } from '../llm/completion-tracker.js';
import type { RouteRecorder } from '../metrics/request-recorder.js';
import type { RoutingFacts } from '../routing/selector.js';
import { ERROR_CATALOG, type ErrorCode } from '../shared/error-catalog.js';
import type { Logger } from '../shared/logger.js';
import { ERR_CLIENT_ABORTED, ERR_RETRY_ELSEWHERE, ProxyError } from '../shared/proxy-error.js';
import type { TenantTicket } from '../tenants/tenant-gate.js';
import type { AccessLog } from './access-log.js';
import { sendError } from './error-response.js';
import type { Failover } from './failover.js';
import { answerFor, classifyError, FAILURES, type FailureKind } from './failures.js';
import { buildResponseHeaders } from './headers.js';
import type { QueueListener } from './queue-client.js';
import { ResponseRelay } from './response-relay.js';
import { type AttemptListener, type ResponseHeaders, UpstreamAttempt } from './upstream-attempt.js';
import type { WorkerAdmission } from './worker-fleet.js';

export interface ExchangeOptions {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** The endpoint label of the request (a known backend route or 'other'). */
  readonly endpoint: string;
  readonly failover: Failover;
  readonly requestId: string;
  readonly startMs: number;
  readonly log: Logger;
  readonly accessLog: AccessLog | null;
  readonly isDraining: () => boolean;
  /** Add Server-Timing to the response (--server-timing). */
  readonly serverTiming: boolean;
  /** Hold a stream's head until its first event, so that a backend dying in prefill is failed over (--hold-stream-head). */
  readonly holdStreamHead: boolean;
  /** The admission queue; null with --queue off. */
  readonly admission: WorkerAdmission | null;
  /** --queue-timeout, for the message of a request that waited it out. */
  readonly queueTimeoutMs: number;
}

/** Where a request stands in the admission queue's order: its class, and the key whose fair share it takes. */
export interface QueuePlace {
  readonly priority: PriorityClass;
  readonly key: string;
  readonly weight: number;
}

/** Seconds a request that timed out in the queue is asked to wait before trying again. */
const QUEUE_RETRY_AFTER_S = '1';

export interface ExchangeDetail {
  model: string | null;
  stream: boolean;
  bytesIn: number | null;
}

/** What every attempt sends; the path and the Host header change with the backend. */
export interface UpstreamRequest {
  readonly method: string;
  /** The path below the backend's base path. */
  readonly path: string;
  /** Flat [name, value, ...]; entry 1 is the Host header's value. */
  readonly headers: string[];
  readonly body: Buffer | IncomingMessage | null;
}

/** A backend's head kept back until its first event (see --hold-stream-head). */
interface HeldHead {
  readonly status: number;
  readonly statusMessage: string;
  readonly headers: ResponseHeaders;
}

/**
 * One proxied request: it sends UpstreamAttempts (another one, on another backend, for a failure that may
 * be retried while nothing has reached the client; see Failover and the failure table), relays the
 * answering attempt's response into the client's (ResponseRelay), aborts the backend's work the moment
 * the client leaves, answers with the proxy's own JSON error when no backend answered, and records the
 * request once in the metrics and the access log. For completions a CompletionTracker reads the
 * forwarded bytes for token metrics.
 */
export class ProxyExchange implements AttemptListener, QueueListener {
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #options: ExchangeOptions;
  readonly #failover: Failover;
  readonly #relay: ResponseRelay;
  readonly detail: ExchangeDetail = { model: null, stream: false, bytesIn: null };
  /** The key's request: its name for the log, its rate-limit headers, its settle when it ends. */
  tenant: TenantTicket | null = null;
  /** Its place in the admission queue's order; null: it never waits (a route that costs the engines nothing). */
  queuePlace: QueuePlace | null = null;
  /** Its ticket while it waits in the queue, else 0. */
  #ticket = 0;
  /** Where the request is counted: the backend that answers it, or the proxy's own answers. */
  #route: RouteRecorder | null = null;
  /** Counted in flight under url="none" while its body is read, before any backend is chosen. */
  #unrouted = false;
  #attempt: UpstreamAttempt | null = null;
  #tracker: CompletionTracker | null = null;
  #request: UpstreamRequest | null = null;
  #held: HeldHead | null = null;
  #clientGone = false;
  #finished = false;
  /** The status sent to the client; 0 until the head is written. */
  #statusSent = 0;
  #ttfbMs = -1;
  /** The request's first attempt: the proxy's own time runs until it went out (see #commit). */
  #first: UpstreamAttempt | null = null;

  /** The owner calls clientClosed() when the response closes (one 'close' listener per request, not one per party). */
  constructor(options: ExchangeOptions) {
    this.#options = options;
    this.#req = options.req;
    this.#res = options.res;
    this.#failover = options.failover;
    this.#relay = new ResponseRelay(options.res, options.req.method);
  }

  /** True once the client has gone away; nothing more is sent. */
  get clientGone(): boolean {
    return this.#clientGone;
  }

  /** The body is being read: until a backend is chosen the request is in flight under url="none". */
  reading(): void {
    this.#unrouted = true;
    this.#failover.unrouted.movedIn();
  }

  /**
   * Chooses a backend for the request and sends it, once the admission queue lets it go when every backend
   * it may use is saturated; the body must be in hand (a Buffer) for a retry.
   */
  start(request: UpstreamRequest, facts: RoutingFacts, tracker: CompletionTracker | null = null): void {
    this.#tracker = tracker;
    this.#request = request;
    this.#failover.begin(facts, request.body === null || Buffer.isBuffer(request.body));
    const admission = this.#options.admission;
    const place = this.queuePlace;
    if (admission !== null && place !== null && !this.#clientGone && admission.mustWait(facts)) {
      // Waiting for a backend, like a body being read: in flight under url="none".
      if (!this.#unrouted) this.reading();
      this.#ticket = admission.enter({ ...place, model: facts.model, routingKey: facts.key }, this);
      return;
    }
    this.#send();
  }

  queueGranted(url: string): void {
    const admission = this.#options.admission as WorkerAdmission;
    const ticket = this.#ticket;
    this.#ticket = 0;
    this.#failover.grant(admission.backend(url));
    this.#send();
    admission.sent(ticket);
  }

  queueExpired(): void {
    this.#ticket = 0;
    const seconds = Math.round(this.#options.queueTimeoutMs / 1000);
    this.reject('queue_timeout', `every backend for this request stayed saturated for ${seconds} s; retry later`, [
      'retry-after',
      QUEUE_RETRY_AFTER_S,
    ]);
  }

  /** Takes the request out of the queue, if it waits there. */
  #leaveQueue(reason: 'client_gone' | 'shutdown'): boolean {
    if (this.#ticket === 0) return false;
    (this.#options.admission as WorkerAdmission).leave(this.#ticket, reason);
    this.#ticket = 0;
    return true;
  }

  #send(): void {
    if (this.#clientGone) {
      this.#end('client_gone', null);
      return;
    }
    const selection = this.#failover.choose();
    if (selection.kind === 'model_not_found') {
      this.reject('model_not_found', `no backend serves the model ${JSON.stringify(this.detail.model)}`, []);
      return;
    }
    if (selection.kind === 'no_backend') {
      this.reject('no_backend', 'no backend is configured or resolved', []);
      return;
    }
    const { backend, fresh } = selection;
    const previous = this.#attempt?.backend ?? null;
    if (this.#route === null) {
      this.#leaveUnrouted();
      this.#route = backend.metrics.route(this.#options.endpoint);
      this.#route.arrived();
    } else if (previous !== backend) {
      // Failover: the request is counted where it ends; it arrived (input_requests_total) where it started.
      previous?.metrics.movedAway();
      backend.metrics.movedIn();
      this.#route = backend.metrics.route(this.#options.endpoint);
    }
    const request = this.#request as UpstreamRequest;
    request.headers[1] = backend.host;
    const attempt = new UpstreamAttempt(backend, this, fresh);
    this.#attempt = attempt;
    this.#first ??= attempt;
    attempt.start({ method: request.method, path: backend.basePath + request.path, headers: request.headers, body: request.body });
  }

  /** Sends the request elsewhere when the failure table and the failover allow it; false when this attempt's outcome stands. */
  #retried(attempt: UpstreamAttempt, failure: FailureKind, status: number | null): boolean {
    const reason = FAILURES[failure].retry;
    if (reason === null || this.#statusSent !== 0 || this.#clientGone) return false;
    if (!this.#failover.retry({ backend: attempt.backend, reason, status })) return false;
    this.#options.log.debug({ request_id: this.#options.requestId, backend: attempt.backend.url, reason }, 'retrying on another backend');
    attempt.detach();
    this.#held = null;
    // What the tracker read of this attempt's answer (a held head, part of a first event) is not the client's.
    this.#tracker = this.#tracker?.restart() ?? null;
    return true;
  }

  onAttemptHead(
    attempt: UpstreamAttempt,
    status: number,
    headers: ResponseHeaders,
    statusMessage: string,
    failure: FailureKind | null,
  ): void {
    if (failure !== null && this.#retried(attempt, failure, status)) {
      // This backend's answer is dropped unread; the request goes to the next one on a later turn.
      attempt.abort(new ProxyError(ERR_RETRY_ELSEWHERE, 'retrying on another backend'));
      setImmediate(() => this.#send());
      return;
    }
    if (this.#clientGone) return;
    const contentType = headers['content-type'];
    this.#tracker?.onResponseStart(status, typeof contentType === 'string' ? contentType : undefined);
    const head = { status, statusMessage, headers };
    if (this.#options.holdStreamHead && status < 300 && isEventStream(headers)) this.#held = head;
    else this.#commit(attempt, head, attempt.headMs, true);
  }

  onAttemptData(attempt: UpstreamAttempt, chunk: Buffer): void {
    if (this.#clientGone) return;
    const tracker = this.#tracker;
    const filtering = tracker?.filtering === true;
    const out = filtering ? (tracker as CompletionTracker).filter(chunk) : chunk;
    if (out === null) return;
    // A held head leaves with the first bytes the client gets.
    if (this.#held !== null) this.#commit(attempt, this.#held, attempt.firstChunkMs, false);
    this.#relay.write(out, attempt);
    // Forward first; the tracker only reads what already went out (a filtering tracker has read it).
    if (!filtering) tracker?.observe(chunk);
  }

  onAttemptEnd(attempt: UpstreamAttempt): void {
    if (this.#clientGone) return;
    if (this.#held !== null) this.#commit(attempt, this.#held, performance.now(), true);
    const rest = this.#tracker?.filtering ? this.#tracker.flush() : null;
    if (rest !== null) this.#relay.write(rest, attempt);
    this.#relay.end();
    this.#finish(this.#statusSent, 'end', null);
  }

  onAttemptError(attempt: UpstreamAttempt, failure: FailureKind, err: Error): void {
    if (this.#retried(attempt, failure, null)) {
      this.#send();
      return;
    }
    this.#end(failure, err);
  }

  /**
   * Writes the head the client gets, and records the time to first byte and the proxy's own time. `readyMs`:
   * when what releases the head arrived (the head itself, or the first event of a held stream head).
   */
  #commit(attempt: UpstreamAttempt, head: HeldHead, readyMs: number, flush: boolean): void {
    this.#held = null;
    const { status, headers } = head;
    const route = this.#route as RouteRecorder;
    this.#ttfbMs = attempt.headMs - this.#options.startMs;
    route.firstByte(this.#ttfbMs / 1000);
    if (this.#options.isDraining()) this.#res.shouldKeepAlive = false;
    this.#statusSent = status;
    // The first attempt that went out (one refused before it was written never did).
    const first = this.#first as UpstreamAttempt;
    const sentMs = first.sentMs >= 0 ? first.sentMs : attempt.sentMs;
    const outgoing = buildResponseHeaders(headers, this.#options.requestId);
    if (this.tenant !== null && this.tenant.headers.length > 0) outgoing.push(...this.tenant.headers);
    if (this.#options.serverTiming) outgoing.push('server-timing', serverTiming(sentMs - this.#options.startMs, readyMs - sentMs));
    this.#relay.head(status, head.statusMessage, outgoing, headers['content-length'], flush);
    // The proxy's own time: before the request went out, and from the moment the head could go to the client.
    route.overhead((sentMs - this.#options.startMs + performance.now() - readyMs) / 1000);
  }

  /** The request ends on `failure` (err: its raw error): a cut response, the proxy's own answer, or nothing for a client gone. */
  #end(failure: FailureKind, err: Error | null): void {
    const rule = FAILURES[failure];
    if (this.#clientGone || failure === 'client_gone') {
      this.#clientGone = true;
      this.#finish(ERROR_CATALOG.client_closed.status, 'client_disconnect', null);
      return;
    }
    const ending: Ending = rule.outcome ?? 'end';
    if (rule.warns) {
      const { log, requestId } = this.#options;
      log.warn({ err, request_id: requestId, backend: this.#attempt?.backend.url ?? null, failure }, 'backend request failed');
    }
    if (this.#statusSent !== 0) {
      this.#relay.destroy();
      this.#finish(this.#statusSent, ending, err);
      return;
    }
    const answer = answerFor(failure, err) ?? { code: 'backend_error' as const, message: 'the backend connection failed' };
    this.#sendError(answer.code, answer.message, []);
    this.#finish(ERROR_CATALOG[answer.code].status, ending, err);
  }

  /** Ends the request on an error before any backend was contacted (its body could not be read). */
  fail(err: unknown): void {
    const failure = classifyError(err, this.#clientGone);
    this.#end(failure, err instanceof Error ? err : null);
  }

  /** Answers without a backend's response (auth, overload, an unknown model), and records it like any other. */
  reject(code: ErrorCode, message: string, headers: readonly string[]): void {
    this.#sendError(code, message, headers);
    this.#finish(ERROR_CATALOG[code].status, 'end', null);
  }

  /** Answers with the proxy's own JSON (GET /v1/models from the fleet's model lists), recorded like any other. */
  answer(status: number, body: string): void {
    if (this.#options.isDraining()) this.#res.shouldKeepAlive = false;
    const length = String(Buffer.byteLength(body));
    this.#res.writeHead(status, ['content-type', 'application/json', 'content-length', length, 'x-request-id', this.#options.requestId]);
    this.#res.end(this.#req.method === 'HEAD' ? undefined : body);
    this.#finish(status, 'end', null);
  }

  #sendError(code: ErrorCode, message: string, headers: readonly string[]): void {
    if (this.#options.isDraining()) this.#res.shouldKeepAlive = false;
    sendError(this.#res, code, message, ['x-request-id', this.#options.requestId, ...headers]);
  }

  /** Aborts the request's backend work with one of our own coded errors (drain deadline); a queued one leaves the queue. */
  abort(reason: Error): void {
    if (this.#leaveQueue('shutdown')) {
      this.fail(reason);
      return;
    }
    this.#attempt?.abort(reason);
  }

  /** The client's response closed: finished, or the client went away first. */
  clientClosed(): void {
    if (this.#res.writableFinished || this.#finished) return;
    this.#clientGone = true;
    // Out of the queue at once: it costs no backend any work.
    if (this.#leaveQueue('client_gone')) {
      this.#end('client_gone', null);
      return;
    }
    this.#attempt?.abort(new ProxyError(ERR_CLIENT_ABORTED, 'the client closed the connection'));
    // If the backend was not contacted yet, the owner of this exchange finishes it.
  }

  #leaveUnrouted(): void {
    if (!this.#unrouted) return;
    this.#unrouted = false;
    this.#failover.unrouted.movedAway();
  }

  #finish(status: number, ending: Ending, err: Error | null): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#relay.release();
    const route = this.#route ?? this.#failover.unrouted.route(this.#options.endpoint);
    if (this.#route === null) {
      this.#leaveUnrouted();
      route.arrived();
    }
    const durationMs = performance.now() - this.#options.startMs;
    route.ended(status, durationMs / 1000);
    const result = this.#tracker !== null && this.#attempt !== null ? this.#tracker.result(ending) : null;
    if (result !== null) route.llm?.record(result);
    this.tenant?.ended(status, result);
    if (this.#options.accessLog !== null) this.#logAccess(this.#options.accessLog, status, durationMs, result, err);
  }

  #logAccess(accessLog: AccessLog, status: number, durationMs: number, result: CompletionResult | null, err: Error | null): void {
    const detail = this.detail;
    accessLog.write({
      requestId: this.#options.requestId,
      key: this.tenant?.tenant.name ?? null,
      method: this.#req.method,
      path: this.#req.url,
      status,
      backend: this.#attempt?.backend.url ?? null,
      endpoint: this.#options.endpoint,
      ttfbMs: this.#ttfbMs < 0 ? null : this.#ttfbMs,
      durationMs,
      bytesIn: detail.bytesIn,
      bytesOut: this.#relay.bytesOut,
      stream: detail.stream,
      model: detail.model,
      promptTokens: result?.promptTokens ?? null,
      completionTokens: result?.completionTokens ?? null,
      ttftMs: result?.ttftMs ?? null,
      tpotMs: result?.tpotMs ?? null,
      outcome: result?.outcome ?? null,
      error: err === null ? null : ((err as { code?: string }).code ?? err.message),
      attempts: this.#failover.history,
    });
  }
}

function isEventStream(headers: ResponseHeaders): boolean {
  const type = headers['content-type'];
  return typeof type === 'string' && type.startsWith('text/event-stream');
}

/** `proxy;dur=<ms>, upstream;dur=<ms>` (RFC: W3C Server Timing), to three decimals. */
function serverTiming(proxyMs: number, upstreamMs: number): string {
  return `proxy;dur=${proxyMs.toFixed(3)}, upstream;dur=${upstreamMs.toFixed(3)}`;
}
