import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Dispatcher } from 'undici';
import type { CompletionResult, CompletionTracker, Ending } from '../llm/completion-tracker.js';
import type { RouteRecorder } from '../metrics/request-recorder.js';
import type { RoutingFacts } from '../routing/selector.js';
import type { ErrorCode } from '../shared/error-catalog.js';
import type { Logger } from '../shared/logger.js';
import { ERR_CLIENT_ABORTED, ProxyError } from '../shared/proxy-error.js';
import type { AccessLog, AttemptNote } from './access-log.js';
import type { AttemptHandle, Backend } from './backend.js';
import { chunkedSocketOf, frameChunk } from './chunked-socket.js';
import { mapError, sendError, statusOf } from './error-response.js';
import type { AttemptFailure, Failover } from './failover.js';
import { buildResponseHeaders } from './headers.js';

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
}

export interface ExchangeDetail {
  model: string | null;
  stream: boolean;
  bytesIn: number | null;
}

/** What one attempt sends; the path and the Host header change with the backend. */
interface UpstreamRequest {
  readonly method: string;
  /** The path below the backend's base path. */
  readonly path: string;
  /** Flat [name, value, ...]; entry 1 is the Host header's value. */
  readonly headers: string[];
  readonly body: Buffer | IncomingMessage | null;
}

/**
 * One proxied request: an undici dispatch handler (controller API, as undici 8 requires) that writes
 * the backend's response straight into the client's response, chunk by chunk, with backpressure both
 * ways and an abort upstream the moment the client goes away. Attempts that fail before anything reached
 * the client are retried on another backend (see Failover). For completions a CompletionTracker reads the
 * forwarded bytes for token metrics.
 */
export class ProxyExchange implements Dispatcher.DispatchHandler {
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #endpoint: string;
  readonly #failover: Failover;
  readonly #requestId: string;
  readonly #startMs: number;
  readonly #log: Logger;
  readonly #accessLog: AccessLog | null;
  readonly #isDraining: () => boolean;
  readonly #serverTiming: boolean;
  readonly detail: ExchangeDetail = { model: null, stream: false, bytesIn: null };
  /** Where the request is counted: the backend that answers it, or the proxy's own answers. */
  #route: RouteRecorder | null = null;
  /** Counted in flight under url="none" while its body is read, before any backend is chosen. */
  #unrouted = false;
  #backend: Backend | null = null;
  #attemptHandle: AttemptHandle | null = null;
  #tracker: CompletionTracker | null = null;
  #request: UpstreamRequest | null = null;
  #controller: Dispatcher.DispatchController | null = null;
  #clientGone = false;
  #finished = false;
  #statusSent = 0;
  #ttfbMs = -1;
  /** When the first attempt went out to a backend (undici is writing it), ms; -1 before. */
  #sentMs = -1;
  #bytesOut = 0;
  #drainListening = false;
  /** Set for a streamed response that writes its chunks straight to the client socket (see chunkedSocketOf). */
  #socket: Socket | null = null;
  /** The backend's Content-Length, or -1. */
  #length = -1;
  /** The client response was ended with the whole body (see onResponseData). */
  #ended = false;

  /** The owner calls clientClosed() when the response closes (one 'close' listener per request, not one per party). */
  constructor(options: ExchangeOptions) {
    this.#req = options.req;
    this.#res = options.res;
    this.#endpoint = options.endpoint;
    this.#failover = options.failover;
    this.#requestId = options.requestId;
    this.#startMs = options.startMs;
    this.#log = options.log;
    this.#accessLog = options.accessLog;
    this.#isDraining = options.isDraining;
    this.#serverTiming = options.serverTiming;
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

  #leaveUnrouted(): void {
    if (!this.#unrouted) return;
    this.#unrouted = false;
    this.#failover.unrouted.movedAway();
  }

  /** Chooses a backend for the request and sends it; the body must be in hand (a Buffer) for a retry. */
  start(request: UpstreamRequest, facts: RoutingFacts, tracker: CompletionTracker | null = null): void {
    this.#tracker = tracker;
    this.#request = request;
    this.#failover.begin(facts, request.body === null || Buffer.isBuffer(request.body));
    this.#attempt();
  }

  #attempt(): void {
    if (this.#clientGone) {
      this.#finish(statusOf('client_closed'), 'client_disconnect', null);
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
    const previous = this.#backend;
    this.#backend = backend;
    if (this.#route === null) {
      this.#leaveUnrouted();
      this.#route = backend.metrics.route(this.#endpoint);
      this.#route.arrived();
    } else if (previous !== backend) {
      // Failover: the request is counted where it ends; it arrived (input_requests_total) where it started.
      previous?.metrics.movedAway();
      backend.metrics.movedIn();
      this.#route = backend.metrics.route(this.#endpoint);
    }
    const request = this.#request as UpstreamRequest;
    request.headers[1] = backend.host;
    this.#controller = null;
    const options = { method: request.method, path: backend.basePath + request.path, headers: request.headers, body: request.body };
    this.#attemptHandle = backend.dispatch(options, this, fresh);
  }

  /** Sends the attempt's failure elsewhere if the failover allows it; false when this attempt's outcome stands. */
  #failOver(failure: AttemptFailure): boolean {
    if (this.#statusSent !== 0 || this.#clientGone || !this.#failover.retry(failure)) return false;
    this.#log.debug({ request_id: this.#requestId, backend: failure.backend.url, reason: failure.reason }, 'retrying on another backend');
    return true;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#sentMs < 0) this.#sentMs = performance.now();
    if (this.#clientGone) controller.abort(new ProxyError(ERR_CLIENT_ABORTED, 'the client closed the connection'));
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
    statusMessage?: string,
  ): void {
    const backend = this.#backend as Backend;
    if (!this.#clientGone && this.#failover.retriesStatus(statusCode, headers, backend)) {
      if (this.#failOver({ backend, reason: String(statusCode) as AttemptFailure['reason'], status: statusCode })) {
        // This backend's answer is dropped unread; the request goes to the next one on a later turn.
        this.#attemptHandle?.detach();
        controller.abort(new ProxyError('ERR_RETRY_ELSEWHERE', 'retrying on another backend'));
        setImmediate(() => this.#attempt());
        return;
      }
    }
    const res = this.#res;
    const headAt = performance.now();
    this.#ttfbMs = headAt - this.#startMs;
    const route = this.#route as RouteRecorder;
    route.firstByte(this.#ttfbMs / 1000);
    if (this.#clientGone) return;
    const contentType = headers['content-type'];
    this.#tracker?.onResponseStart(statusCode, typeof contentType === 'string' ? contentType : undefined);
    if (this.#isDraining()) res.shouldKeepAlive = false;
    this.#statusSent = statusCode;
    const outgoing = buildResponseHeaders(headers, this.#requestId);
    if (this.#serverTiming) outgoing.push('server-timing', serverTiming(this.#sentMs - this.#startMs, headAt - this.#sentMs));
    res.writeHead(statusCode, statusMessage || undefined, outgoing);
    // A stream (SSE, or any body of unknown length) may be silent for a long prefill: its headers go out
    // now. A body of known length follows at once, so its headers ride in the same write (one syscall less).
    const length = headers['content-length'];
    if (length === undefined) {
      res.flushHeaders();
      this.#socket = chunkedSocketOf(res, this.#req.method);
    } else if (typeof length === 'string') {
      this.#length = Number(length);
    }
    // The proxy's own time: before the request went out, and from the backend's head to the client's.
    route.overhead((this.#sentMs - this.#startMs + performance.now() - headAt) / 1000);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#clientGone) return;
    const tracker = this.#tracker;
    if (tracker?.filtering) {
      const out = tracker.filter(chunk);
      if (out !== null) this.#write(controller, out);
      return;
    }
    // Forward first; the tracker only reads what already went out.
    if (this.#bytesOut === 0 && chunk.length === this.#length) {
      // The whole body in one piece (most small responses): headers and body leave in one end() call,
      // without write()'s cork and next-tick uncork.
      this.#bytesOut = chunk.length;
      this.#ended = true;
      this.#res.end(chunk);
    } else {
      this.#write(controller, chunk);
    }
    tracker?.observe(chunk);
  }

  onResponseEnd(controller: Dispatcher.DispatchController): void {
    if (this.#clientGone) return;
    const rest = this.#tracker?.filtering ? this.#tracker.flush() : null;
    if (rest !== null) this.#write(controller, rest);
    if (!this.#ended) this.#res.end();
    this.#finish(this.#statusSent, 'end', null);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    const backend = this.#backend as Backend;
    const reason = this.#failover.retriesError(err);
    if (reason !== null && this.#failOver({ backend, reason, status: null })) {
      this.#attempt();
      return;
    }
    if (this.#clientGone) {
      this.#finish(statusOf('client_closed'), 'client_disconnect', null);
      return;
    }
    if (this.#res.headersSent) {
      // Too late for a status: an abruptly closed response is the only honest signal left.
      this.#res.destroy();
      this.#finish(this.#statusSent, endingFor(mapError(err).code), err);
      return;
    }
    this.fail(err);
  }

  /** Answers with the mapped JSON error (before any response byte was sent) and records it. */
  fail(err: unknown): void {
    const mapped = mapError(err);
    if (mapped.code === 'client_closed' || this.#clientGone) {
      this.#clientGone = true;
      this.#finish(statusOf('client_closed'), 'client_disconnect', null);
      return;
    }
    this.#log.warn({ err, request_id: this.#requestId, backend: this.#backend?.url ?? null, code: mapped.code }, 'backend request failed');
    this.#send(mapped.code, mapped.message, []);
    this.#finish(statusOf(mapped.code), endingFor(mapped.code), null);
  }

  /** Answers without a backend's response (auth, overload, an unknown model), and records it like any other. */
  reject(code: ErrorCode, message: string, headers: readonly string[]): void {
    this.#send(code, message, headers);
    this.#finish(statusOf(code), 'end', null);
  }

  /** Answers with the proxy's own JSON (GET /v1/models from the fleet's model lists), recorded like any other. */
  answer(status: number, body: string): void {
    if (this.#isDraining()) this.#res.shouldKeepAlive = false;
    const length = String(Buffer.byteLength(body));
    this.#res.writeHead(status, ['content-type', 'application/json', 'content-length', length, 'x-request-id', this.#requestId]);
    this.#res.end(this.#req.method === 'HEAD' ? undefined : body);
    this.#finish(status, 'end', null);
  }

  #send(code: ErrorCode, message: string, headers: readonly string[]): void {
    if (this.#isDraining()) this.#res.shouldKeepAlive = false;
    sendError(this.#res, code, message, ['x-request-id', this.#requestId, ...headers]);
  }

  /** Aborts the backend request (drain deadline, shutdown). */
  abort(reason: Error): void {
    this.#controller?.abort(reason);
  }

  #write(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#bytesOut += chunk.length;
    const socket = this.#socket;
    if (socket !== null) {
      // A destroyed socket means the client left: its 'close' is on the way and ends the exchange.
      if (socket.destroyed || socket.write(frameChunk(chunk))) return;
      controller.pause();
      if (!this.#drainListening) {
        this.#drainListening = true;
        socket.once('drain', this.#onSocketDrain);
      }
      return;
    }
    if (this.#res.write(chunk)) return;
    // The client reads slower than the backend sends: stop reading upstream until it catches up.
    controller.pause();
    if (!this.#drainListening) {
      this.#drainListening = true;
      this.#res.on('drain', this.#onDrain);
    }
  }

  readonly #onDrain = (): void => {
    this.#controller?.resume();
  };

  readonly #onSocketDrain = (): void => {
    this.#drainListening = false;
    this.#controller?.resume();
  };

  /** The client's response closed: finished, or the client went away first. */
  clientClosed(): void {
    if (this.#res.writableFinished || this.#finished) return;
    this.#clientGone = true;
    const controller = this.#controller;
    if (controller !== null && !controller.aborted) {
      controller.abort(new ProxyError(ERR_CLIENT_ABORTED, 'the client closed the connection'));
    }
    // If the backend was not contacted yet, the owner of this exchange finishes it.
  }

  #finish(status: number, ending: Ending, err: Error | null): void {
    if (this.#finished) return;
    this.#finished = true;
    const res = this.#res;
    if (this.#drainListening) {
      res.off('drain', this.#onDrain);
      // The socket outlives this response (keep-alive): leave no listener of ours on it.
      this.#socket?.off('drain', this.#onSocketDrain);
    }
    const route = this.#route ?? this.#failover.unrouted.route(this.#endpoint);
    if (this.#route === null) {
      this.#leaveUnrouted();
      route.arrived();
    }
    const durationMs = performance.now() - this.#startMs;
    route.ended(status, durationMs / 1000);
    const result = this.#tracker !== null && this.#backend !== null ? this.#tracker.result(ending) : null;
    if (result !== null) route.llm?.record(result);
    if (this.#accessLog !== null) this.#logAccess(this.#accessLog, status, durationMs, result, err);
  }

  #logAccess(accessLog: AccessLog, status: number, durationMs: number, result: CompletionResult | null, err: Error | null): void {
    const detail = this.detail;
    const attempts: readonly AttemptNote[] | null = this.#failover.history;
    accessLog.write({
      requestId: this.#requestId,
      method: this.#req.method,
      path: this.#req.url,
      status,
      backend: this.#backend?.url ?? null,
      endpoint: this.#endpoint,
      ttfbMs: this.#ttfbMs < 0 ? null : this.#ttfbMs,
      durationMs,
      bytesIn: detail.bytesIn,
      bytesOut: this.#bytesOut,
      stream: detail.stream,
      model: detail.model,
      promptTokens: result?.promptTokens ?? null,
      completionTokens: result?.completionTokens ?? null,
      ttftMs: result?.ttftMs ?? null,
      tpotMs: result?.tpotMs ?? null,
      outcome: result?.outcome ?? null,
      error: err === null ? null : ((err as { code?: string }).code ?? err.message),
      attempts,
    });
  }
}

/** `proxy;dur=<ms>, upstream;dur=<ms>` (RFC: W3C Server Timing), to three decimals. */
function serverTiming(proxyMs: number, upstreamMs: number): string {
  return `proxy;dur=${proxyMs.toFixed(3)}, upstream;dur=${upstreamMs.toFixed(3)}`;
}

function endingFor(code: ErrorCode): Ending {
  if (code === 'backend_timeout') return 'timeout';
  if (code === 'client_closed') return 'client_disconnect';
  return 'upstream_error';
}
