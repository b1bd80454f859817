import type { Dispatcher } from 'undici';
import type { Backend } from './backend.js';
import { classifyError, classifyStatus, FAILURES, type FailureKind } from './failures.js';
import { retryAfterMs } from './retry-after.js';

export type ResponseHeaders = Record<string, string | string[] | undefined>;

/** Who hears how an attempt goes: the exchange it belongs to, until it detaches (a retry elsewhere). */
export interface AttemptListener {
  /** The client has gone: whatever error follows is the client's doing, not the backend's. */
  readonly clientGone: boolean;
  /** The backend's head; `failure` is set when its status says the backend cannot serve now (429, 502-504). */
  onAttemptHead(
    attempt: UpstreamAttempt,
    status: number,
    headers: ResponseHeaders,
    statusMessage: string,
    failure: FailureKind | null,
  ): void;
  onAttemptData(attempt: UpstreamAttempt, chunk: Buffer): void;
  onAttemptEnd(attempt: UpstreamAttempt): void;
  onAttemptError(attempt: UpstreamAttempt, failure: FailureKind, err: Error): void;
}

/**
 * One try of a request on one backend (Envoy's UpstreamRequest): it sends itself, counts itself in
 * progress and in prefill on its backend, classifies what happens to it through the failure table, and
 * charges its backend for what the table says is the backend's fault (a Retry-After hold included). The
 * exchange decides what the request does next (relay, retry elsewhere, answer) from what it reports.
 */
export class UpstreamAttempt implements Dispatcher.DispatchHandler {
  readonly backend: Backend;
  /** On a fresh connection of its own (a retry after the keep-alive race). */
  readonly fresh: boolean;
  /** When undici started writing it, when its head and its first body chunk came; performance.now() ms, -1 before. */
  sentMs = -1;
  headMs = -1;
  firstChunkMs = -1;
  #listener: AttemptListener | null;
  #controller: Dispatcher.DispatchController | null = null;
  /** Our own abort, kept until the controller exists and to classify the error it causes. */
  #abortReason: Error | null = null;
  #ended = false;
  #prefilled = false;

  constructor(backend: Backend, listener: AttemptListener, fresh: boolean) {
    this.backend = backend;
    this.#listener = listener;
    this.fresh = fresh;
  }

  start(options: Dispatcher.DispatchOptions): void {
    this.backend.dispatch(options, this, this.fresh);
  }

  /** Nothing more of this attempt reaches its listener (the request went elsewhere). */
  detach(): void {
    this.#listener = null;
  }

  /** Aborts it with one of our own coded errors (client gone, drain deadline, retry elsewhere). */
  abort(reason: Error): void {
    if (this.#abortReason !== null || this.#ended) return;
    this.#abortReason = reason;
    const controller = this.#controller;
    if (controller !== null && !controller.aborted) controller.abort(reason);
  }

  pause(): void {
    this.#controller?.pause();
  }

  resume(): void {
    this.#controller?.resume();
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    this.sentMs = performance.now();
    if (this.#abortReason !== null) controller.abort(this.#abortReason);
  }

  onResponseStart(controller: Dispatcher.DispatchController, status: number, headers: ResponseHeaders, statusMessage?: string): void {
    if (controller.aborted) return;
    this.headMs = performance.now();
    const failure = classifyStatus(status);
    if (failure !== null && FAILURES[failure].chargesBackend) this.backend.failed();
    else this.backend.succeeded();
    if (status === 429 || status === 503) {
      const holdMs = retryAfterMs(headers['retry-after']);
      if (holdMs !== null) this.backend.hold(holdMs);
    }
    this.#listener?.onAttemptHead(this, status, headers, statusMessage ?? '', failure);
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.#prefilled) {
      this.firstChunkMs = performance.now();
      this.#firstByte();
    }
    this.#listener?.onAttemptData(this, chunk);
  }

  onResponseEnd(): void {
    this.#end();
    this.#listener?.onAttemptEnd(this);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.#end();
    const failure = classifyError(this.#abortReason ?? err, this.#listener?.clientGone ?? false);
    if (FAILURES[failure].chargesBackend) this.backend.failed();
    this.#listener?.onAttemptError(this, failure, err);
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (!this.#prefilled) this.#firstByte();
    this.backend.attemptEnded();
  }

  /** The backend produced its first body byte: for a stream, its first token (its prefill is done). */
  #firstByte(): void {
    this.#prefilled = true;
    this.backend.prefilled();
  }
}
