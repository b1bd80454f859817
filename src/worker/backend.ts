import { Client, type Dispatcher, Pool } from 'undici';
import { type EngineView, estimatedWaiting, fleetLoad, roomOn, type SaturationLimits } from '../admission/saturation.js';
import type { Config } from '../config/types.js';
import type { BackendRecorder } from '../metrics/request-recorder.js';
import type { Candidate } from '../routing/selector.js';
import { BackendState } from '../shared/backend-state.js';
import type { BackendOut, FleetBackend } from '../shared/fleet.js';
import { ERR_BACKEND_REMOVED, ProxyError } from '../shared/proxy-error.js';

/** Below vLLM's 5 s uvicorn keep-alive, so we close an idle socket before the backend does. */
const UPSTREAM_KEEP_ALIVE_TIMEOUT_MS = 4_000;

export interface BackendHooks {
  /** This worker's own verdict (max fails reached, or a Retry-After): the primary spreads it to the other workers. */
  out(verdict: BackendOut): void;
  /** Its attempts in progress or in prefill changed: the load report goes out soon (it is sent only then). */
  loadChanged(backend: Backend): void;
}

/**
 * One backend as a worker sees it: its keep-alive pool, the attempts in progress on it (this worker's
 * exactly, the other workers' as last reported through the primary), its health (the one BackendState:
 * the primary's view merged with this worker's own immediate verdicts), and its metrics. Every attempt
 * is an UpstreamAttempt sent through dispatch().
 */
export class Backend implements Candidate {
  readonly url: string;
  readonly origin: string;
  readonly basePath: string;
  readonly host: string;
  readonly metrics: BackendRecorder;
  readonly state = new BackendState();
  weight = 1;
  models: ReadonlySet<string> | null = null;
  /** Its configured max_concurrency; null: no bound. */
  maxConcurrency: number | null = null;
  /** Its engine as last read by the primary (--load-interval); null while there is no fresh reading. */
  engine: EngineView | null = null;
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

  constructor(entry: FleetBackend, config: Config, metrics: BackendRecorder, hooks: BackendHooks) {
    this.url = entry.url;
    this.origin = entry.origin;
    this.basePath = entry.basePath;
    this.host = entry.host;
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
    this.#pool = new Pool(entry.origin, { ...this.#clientOptions, connections: config.upstreamConnections });
    this.apply(entry);
  }

  /** Takes the primary's view of the backend (see BackendState.merge). */
  apply(entry: FleetBackend): void {
    this.weight = entry.weight;
    this.maxConcurrency = entry.maxConcurrency;
    this.models = entry.models === null ? null : new Set(entry.models);
    this.state.merge(entry.health);
  }

  /** This instance's attempts in progress on it: this worker's exact, the others' as last reported. */
  ownLoad(): number {
    return this.inFlight + this.othersInFlight;
  }

  /** The load routing balances: the instance's own, or the engine's count where it is higher (other instances, other clients). */
  load(): number {
    return this.engine === null ? this.inFlight + this.othersInFlight : fleetLoad(this.inFlight + this.othersInFlight, this.engine);
  }

  /** Requests waiting for a first byte: this instance's, or the engine's queue where it is longer. */
  prefillLoad(): number {
    const own = this.prefilling + this.othersPrefilling;
    return this.engine === null ? own : Math.max(own, estimatedWaiting(this.inFlight + this.othersInFlight, this.engine));
  }

  /** How many more requests it can take before it is saturated; Infinity when nothing bounds it. */
  room(limits: SaturationLimits): number {
    if (this.engine === null && this.maxConcurrency === null) return Number.POSITIVE_INFINITY;
    return roomOn(this.inFlight + this.othersInFlight, this.engine, this.maxConcurrency, limits);
  }

  effectiveWeight(nowMs: number): number {
    return this.state.effectiveWeight(this.weight, this.#config.slowStartMs, nowMs);
  }

  isUp(nowMs: number): boolean {
    return this.state.isUp(nowMs);
  }

  isHeld(nowMs: number): boolean {
    return this.state.isHeld(nowMs);
  }

  serves(model: string | null): boolean {
    return model === null || this.models === null || this.models.has(model);
  }

  /**
   * Sends one attempt, counted in progress until it ends. `fresh`: on a new connection of its own, for a
   * retry after the keep-alive race (a pooled socket the backend closed just as it was reused), which must
   * not meet another such socket.
   */
  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler, fresh: boolean): void {
    this.inFlight++;
    this.prefilling++;
    this.#hooks.loadChanged(this);
    if (!fresh) {
      this.#pool.dispatch(options, handler);
      return;
    }
    const client = new Client(this.origin, this.#clientOptions);
    client.dispatch(options, handler);
    // close() lets the one request finish, then releases the connection.
    void client.close().catch(() => undefined);
  }

  /** An attempt had its first response byte (or ended without one). */
  prefilled(): void {
    this.prefilling--;
    this.#hooks.loadChanged(this);
  }

  /** An attempt ended (answered, failed or aborted). */
  attemptEnded(): void {
    this.inFlight--;
    this.#hooks.loadChanged(this);
  }

  succeeded(): void {
    this.#consecutiveFailures = 0;
  }

  /** A failure the failure table charges to the backend; --max-fails of them in a row take it out. */
  failed(): void {
    const maxFails = this.#config.maxFails;
    if (maxFails === 0 || ++this.#consecutiveFailures < maxFails) return;
    this.#consecutiveFailures = 0;
    // Out at once here, by the same rule as the primary's; the primary decides for every worker.
    this.state.eject(Date.now(), this.#config.failTimeoutMs);
    this.#hooks.out({ url: this.url, reason: 'max_fails', forMs: this.#config.failTimeoutMs });
  }

  /** A 429 or 503 with Retry-After: no new attempts here for that long, on any worker. */
  hold(forMs: number): void {
    this.state.hold(Date.now(), forMs);
    this.#hooks.out({ url: this.url, reason: 'retry_after', forMs });
  }

  close(): Promise<void> {
    return this.#pool.close();
  }

  /** Ends every request still on it: the backend left the fleet and they outlived the drain deadline. */
  destroy(): Promise<void> {
    return this.#pool.destroy(new ProxyError(ERR_BACKEND_REMOVED, 'the backend left the fleet'));
  }
}
