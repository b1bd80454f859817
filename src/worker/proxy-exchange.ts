import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Dispatcher } from 'undici';
import type { CompletionResult, CompletionTracker, Ending } from '../llm/completion-tracker.js';
import type { RouteRecorder } from '../metrics/request-recorder.js';
import type { Logger } from '../shared/logger.js';
import { ERR_CLIENT_ABORTED, ProxyError } from '../shared/proxy-error.js';
import type { AccessLog } from './access-log.js';
import { chunkedSocketOf, frameChunk } from './chunked-socket.js';
import { mapError, STATUS_CLIENT_CLOSED, sendJsonError } from './error-response.js';
import { buildResponseHeaders } from './headers.js';
import type { Upstream } from './upstream.js';

export interface ExchangeOptions {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly recorder: RouteRecorder;
  readonly upstream: Upstream;
  readonly requestId: string;
  readonly startMs: number;
  readonly log: Logger;
  readonly accessLog: AccessLog | null;
  readonly isDraining: () => boolean;
}

export interface ExchangeDetail {
  model: string | null;
  stream: boolean;
  bytesIn: number | null;
}

/**
 * One proxied request: an undici dispatch handler (controller API, as undici 8 requires) that writes
 * the backend's response straight into the client's response, chunk by chunk, with backpressure both
 * ways and an abort upstream the moment the client goes away. For completions a CompletionTracker
 * reads the forwarded bytes for token metrics.
 */
export class ProxyExchange implements Dispatcher.DispatchHandler {
  readonly #req: ExchangeOptions['req'];
  readonly #res: ExchangeOptions['res'];
  readonly #recorder: ExchangeOptions['recorder'];
  readonly #upstream: ExchangeOptions['upstream'];
  readonly #requestId: ExchangeOptions['requestId'];
  readonly #startMs: ExchangeOptions['startMs'];
  readonly #log: ExchangeOptions['log'];
  readonly #accessLog: ExchangeOptions['accessLog'];
  readonly #isDraining: ExchangeOptions['isDraining'];
  readonly detail: ExchangeDetail = { model: null, stream: false, bytesIn: null };
  #tracker: CompletionTracker | null = null;
  #request: Dispatcher.DispatchOptions | null = null;
  #retried = false;
  #controller: Dispatcher.DispatchController | null = null;
  #clientGone = false;
  #dispatched = false;
  #finished = false;
  #statusSent = 0;
  #ttfbMs = -1;
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
    this.#recorder = options.recorder;
    this.#upstream = options.upstream;
    this.#requestId = options.requestId;
    this.#startMs = options.startMs;
    this.#log = options.log;
    this.#accessLog = options.accessLog;
    this.#isDraining = options.isDraining;
  }

  /** True once the client has gone away; nothing more is sent. */
  get clientGone(): boolean {
    return this.#clientGone;
  }

  dispatch(
    method: string,
    path: string,
    headers: string[],
    body: Buffer | IncomingMessage | null,
    tracker: CompletionTracker | null = null,
  ): void {
    this.#tracker = tracker;
    this.#dispatched = true;
    this.#request = { method, path, headers, body };
    this.#upstream.pool.dispatch(this.#request, this);
  }

  /**
   * The keep-alive race: a pooled connection the backend closed just as we reused it fails before any
   * response byte. Such a request is sent once more on a new connection, but only if its body is in
   * hand (a Buffer, or none) and nothing reached the client: never a second copy of a started response.
   */
  #retry(err: Error): boolean {
    const request = this.#request;
    if (this.#retried || request === null || this.#statusSent !== 0 || this.#clientGone) return false;
    if (request.body !== null && !Buffer.isBuffer(request.body)) return false;
    if (!RETRYABLE_CODES.has((err as { code?: string }).code ?? '')) return false;
    this.#retried = true;
    this.#controller = null;
    this.#recorder.backend.retried();
    this.#log.info(
      { request_id: this.#requestId, error: (err as { code?: string }).code },
      'backend connection closed before the response, retrying once',
    );
    // Through the pool the retry could meet another connection the backend closed the same way.
    const client = this.#upstream.oneOff();
    client.dispatch(request, this);
    // close() lets the one request finish, then releases the connection.
    void client.close().catch(() => undefined);
    return true;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#clientGone) controller.abort(new ProxyError(ERR_CLIENT_ABORTED, 'the client closed the connection'));
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
    statusMessage?: string,
  ): void {
    const res = this.#res;
    const recorder = this.#recorder;
    const startMs = this.#startMs;
    this.#ttfbMs = performance.now() - startMs;
    recorder.firstByte(this.#ttfbMs / 1000);
    if (this.#clientGone) return;
    const contentType = headers['content-type'];
    this.#tracker?.onResponseStart(statusCode, typeof contentType === 'string' ? contentType : undefined);
    if (this.#isDraining()) res.shouldKeepAlive = false;
    this.#statusSent = statusCode;
    res.writeHead(statusCode, statusMessage || undefined, buildResponseHeaders(headers, this.#requestId));
    // A stream (SSE, or any body of unknown length) may be silent for a long prefill: its headers go out
    // now. A body of known length follows at once, so its headers ride in the same write (one syscall less).
    const length = headers['content-length'];
    if (length === undefined) {
      res.flushHeaders();
      this.#socket = chunkedSocketOf(res, this.#req.method);
    } else if (typeof length === 'string') {
      this.#length = Number(length);
    }
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
    if (this.#retry(err)) return;
    if (this.#clientGone) {
      this.#finish(STATUS_CLIENT_CLOSED, 'client_disconnect', null);
      return;
    }
    if (this.#res.headersSent) {
      // Too late for a status: an abruptly closed response is the only honest signal left.
      this.#res.destroy();
      this.#finish(this.#statusSent, endingFor(mapError(err).status), err);
      return;
    }
    this.fail(err);
  }

  /** Answers with the mapped JSON error (before any response byte was sent) and records it. */
  fail(err: unknown): void {
    const mapped = mapError(err);
    if (mapped.status === STATUS_CLIENT_CLOSED || this.#clientGone) {
      this.#clientGone = true;
      this.#finish(STATUS_CLIENT_CLOSED, 'client_disconnect', null);
      return;
    }
    this.#log.warn(
      { err, request_id: this.#requestId, backend: this.#upstream.backend.url, status: mapped.status },
      'backend request failed',
    );
    if (this.#isDraining()) this.#res.shouldKeepAlive = false;
    sendJsonError(this.#res, mapped.status, mapped.type, mapped.code, mapped.message, ['x-request-id', this.#requestId]);
    this.#finish(mapped.status, endingFor(mapped.status), null);
  }

  /** Answers without contacting the backend (auth, overload), and records it like any other response. */
  reject(status: number, type: string, code: string, message: string, headers: string[]): void {
    if (this.#isDraining()) this.#res.shouldKeepAlive = false;
    sendJsonError(this.#res, status, type, code, message, ['x-request-id', this.#requestId, ...headers]);
    this.#finish(status, 'end', null);
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
    const recorder = this.#recorder;
    const startMs = this.#startMs;
    if (this.#drainListening) {
      res.off('drain', this.#onDrain);
      // The socket outlives this response (keep-alive): leave no listener of ours on it.
      this.#socket?.off('drain', this.#onSocketDrain);
    }
    const durationMs = performance.now() - startMs;
    recorder.ended(status, durationMs / 1000);
    const result = this.#tracker !== null && this.#dispatched ? this.#tracker.result(ending) : null;
    if (result !== null) recorder.llm?.record(result);
    if (this.#accessLog !== null) this.#logAccess(this.#accessLog, status, durationMs, result, err);
  }

  #logAccess(accessLog: AccessLog, status: number, durationMs: number, result: CompletionResult | null, err: Error | null): void {
    const detail = this.detail;
    accessLog.write({
      requestId: this.#requestId,
      method: this.#req.method,
      path: this.#req.url,
      status,
      backend: this.#upstream.backend.url,
      endpoint: this.#recorder.endpoint,
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
    });
  }
}

/** A reused connection that the backend closed: undici reports "other side closed" as UND_ERR_SOCKET. */
const RETRYABLE_CODES = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

function endingFor(status: number): Ending {
  if (status === 504) return 'timeout';
  if (status === STATUS_CLIENT_CLOSED) return 'client_disconnect';
  return 'upstream_error';
}
