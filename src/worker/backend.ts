import { Client, type Dispatcher, Pool } from 'undici';
import type { Config } from '../config/types.js';
import type { BackendRecorder, RetryReason } from '../metrics/request-recorder.js';
import type { Candidate } from '../routing/selector.js';
import type { BackendOut, FleetBackend } from '../shared/fleet.js';

/** Below vLLM's 5 s uvicorn keep-alive, so we close an idle socket before the backend does. */
const UPSTREAM_KEEP_ALIVE_TIMEOUT_MS = 4_000;
/** A backend in slow start still gets this share of its weight, so that it is tried at all. */
const SLOW_START_FLOOR = 0.1;

/** What failed, as live traffic saw it; null for an abort of our own (client gone, drain, a retry elsewhere). */
export function failureOf(err: Error): RetryReason | 'timeout' | 'broken' | null {
  switch ((err as { code?: string }).code) {
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'connect';
    case 'UND_ERR_SOCKET':
    case 'ECONNRESET':
    case 'EPIPE':
      return 'reset';
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return 'timeout';
    case 'UND_ERR_ABORTED':
    case 'ERR_CLIENT_ABORTED':
    case 'ERR_RETRY_ELSEWHERE':
    case 'ERR_DRAIN_DEADLINE':
      return null;
    default:
      return 'broken';
  }
}

/** Heads that say "this backend cannot serve now": counted as failures, and retried elsewhere. */
export function isFailureStatus(status: number): boolean {
  return status === 502 || status === 503 || status === 504;
}

export interface BackendHooks {
  /** This worker's own verdict (max fails reached, or a Retry-After): the primary spreads it to the other workers. */
  out(verdict: BackendOut): void;
}

/**
 * One backend as a worker sees it: its keep-alive pool, the attempts in progress on it (this worker's
 * exactly, the other workers' as last reported through the primary), its health as the primary last
 * said plus this worker's own immediate verdicts, and its metrics. Every attempt goes through
 * dispatch(), so failures and successes are recorded in one place.
 */
export class Backend implements Candidate {
  readonly url: string;
  readonly origin: string;
  readonly basePath: string;
  readonly host: string;
  readonly metrics: BackendRecorder;
  weight = 1;
  models: ReadonlySet<string> | null = null;
  up = true;
  ejectedUntilMs = 0;
  heldUntilMs = 0;
  upSinceMs = 0;
  /** Attempts of this worker in progress on this backend. */
  inFlight = 0;
  /** Of those, the ones that have not had their first response byte yet (in prefill, or queued for it). */
  prefilling = 0;
  /** The other workers' attempts in progress, and of those still waiting for a first byte, as last reported. */
  othersInFlight = 0;
  othersPrefilling = 0;
  /** Gone from the fleet: no new attempts; the pool closes once those in progress end. */
  removed = false;
  readonly #pool: Pool;
  readonly #clientOptions: Pool.Options;
  readonly #config: Config;
  readonly #hooks: BackendHooks;
  #consecutiveFailures = 0;

  constructor(state: FleetBackend, config: Config, metrics: BackendRecorder, hooks: BackendHooks) {
    this.url = state.url;
    this.origin = state.origin;
    this.basePath = state.basePath;
    this.host = state.host;
    this.metrics = metrics;
    this.#config = config;
    this.#hooks = hooks;
    this.#clientOptions = {
      pipelining: 1,
      keepAliveTimeout: UPSTREAM_KEEP_ALIVE_TIMEOUT_MS,
      headersTimeout: config.headersTimeoutMs,
      bodyTimeout: config.bodyTimeoutMs,
      connect: { timeout: config.connectTimeoutMs },
    };
    this.#pool = new Pool(state.origin, { ...this.#clientOptions, connections: config.upstreamConnections });
    this.apply(state);
  }

  /** Takes the primary's view; this worker's own ejection or hold stands if it lasts longer. */
  apply(state: FleetBackend): void {
    this.weight = state.weight;
    this.models = state.models === null ? null : new Set(state.models);
    this.up = state.up;
    this.ejectedUntilMs = Math.max(this.ejectedUntilMs, state.ejectedUntilMs);
    this.heldUntilMs = Math.max(this.heldUntilMs, state.heldUntilMs);
    this.upSinceMs = Math.max(this.upSinceMs, state.upSinceMs);
  }

  load(): number {
    return this.inFlight + this.othersInFlight;
  }

  prefillLoad(): number {
    return this.prefilling + this.othersPrefilling;
  }

  effectiveWeight(nowMs: number): number {
    const slowStart = this.#config.slowStartMs;
    if (slowStart === 0 || this.upSinceMs === 0) return this.weight;
    const ramp = (nowMs - this.upSinceMs) / slowStart;
    return ramp >= 1 ? this.weight : this.weight * Math.max(SLOW_START_FLOOR, ramp);
  }

  /** Up by the active checks and not taken out by live traffic's failures. */
  isUp(nowMs: number): boolean {
    return this.up && nowMs >= this.ejectedUntilMs;
  }

  /** Asked by its own Retry-After to be left alone for a while. */
  isHeld(nowMs: number): boolean {
    return nowMs < this.heldUntilMs;
  }

  serves(model: string | null): boolean {
    return model === null || this.models === null || this.models.has(model);
  }

  /**
   * Sends one attempt. `fresh`: on a new connection of its own, for a retry after the keep-alive race
   * (a pooled socket the backend closed just as it was reused), which must not meet another such socket.
   */
  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler, fresh: boolean): AttemptHandle {
    this.inFlight++;
    this.prefilling++;
    const attempt = new Attempt(this, handler);
    if (!fresh) {
      this.#pool.dispatch(options, attempt);
      return attempt;
    }
    const client = new Client(this.origin, this.#clientOptions);
    client.dispatch(options, attempt);
    // close() lets the one request finish, then releases the connection.
    void client.close().catch(() => undefined);
    return attempt;
  }

  /** An attempt had its first response byte (or ended without one). */
  prefilled(): void {
    this.prefilling--;
  }

  /** An attempt ended (answered, failed or aborted). */
  attemptEnded(): void {
    this.inFlight--;
  }

  succeeded(): void {
    this.#consecutiveFailures = 0;
  }

  failed(): void {
    const maxFails = this.#config.maxFails;
    if (maxFails === 0 || ++this.#consecutiveFailures < maxFails) return;
    this.#consecutiveFailures = 0;
    const now = Date.now();
    // Out at once here; the primary decides the real duration (doubled for a repeat) and tells every worker.
    this.ejectedUntilMs = Math.max(this.ejectedUntilMs, now + this.#config.failTimeoutMs);
    this.upSinceMs = Math.max(this.upSinceMs, this.ejectedUntilMs);
    this.#hooks.out({ url: this.url, reason: 'max_fails', forMs: this.#config.failTimeoutMs });
  }

  /** A 429 or 503 with Retry-After: no new attempts here for that long, on any worker. */
  hold(forMs: number): void {
    this.heldUntilMs = Math.max(this.heldUntilMs, Date.now() + forMs);
    this.#hooks.out({ url: this.url, reason: 'retry_after', forMs });
  }

  close(): Promise<void> {
    return this.#pool.close();
  }

  destroy(): Promise<void> {
    return this.#pool.destroy();
  }
}

/** One attempt in progress, as its sender holds it. */
export interface AttemptHandle {
  /** The sender has given up on this attempt (it retries elsewhere): nothing more of it reaches the sender. */
  detach(): void;
}

/**
 * Wraps the exchange's handler for one attempt, to count it in progress and record how it went: a
 * refused, reset or timed-out attempt and a 502/503/504 head are failures; any other head a success.
 */
class Attempt implements Dispatcher.DispatchHandler, AttemptHandle {
  readonly #backend: Backend;
  #handler: Dispatcher.DispatchHandler | null;
  #ended = false;
  #prefilled = false;

  constructor(backend: Backend, handler: Dispatcher.DispatchHandler) {
    this.#backend = backend;
    this.#handler = handler;
  }

  detach(): void {
    this.#handler = null;
  }

  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    this.#handler?.onRequestStart?.(controller, context);
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
    statusMessage?: string,
  ): void {
    if (isFailureStatus(statusCode)) this.#backend.failed();
    else this.#backend.succeeded();
    this.#handler?.onResponseStart?.(controller, statusCode, headers, statusMessage);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.#prefilled) this.#firstByte();
    this.#handler?.onResponseData?.(controller, chunk);
  }

  onResponseEnd(controller: Dispatcher.DispatchController, trailers: Record<string, string | string[] | undefined>): void {
    this.#end();
    this.#handler?.onResponseEnd?.(controller, trailers);
  }

  onResponseError(controller: Dispatcher.DispatchController, err: Error): void {
    this.#end();
    if (failureOf(err) !== null) this.#backend.failed();
    this.#handler?.onResponseError?.(controller, err);
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (!this.#prefilled) this.#firstByte();
    this.#backend.attemptEnded();
  }

  /** The backend produced its first body byte: for a stream, its first token (its prefill is done). */
  #firstByte(): void {
    this.#prefilled = true;
    this.#backend.prefilled();
  }
}
