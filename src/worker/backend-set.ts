import type { EngineView, SaturationLimits } from '../admission/saturation.js';
import type { Config } from '../config/types.js';
import type { RequestRecorder } from '../metrics/request-recorder.js';
import type { AffinityResult } from '../routing/affinity.js';
import { routingPolicy } from '../routing/policy-registry.js';
import type { RoutingFacts, Selector } from '../routing/selector.js';
import type { BackendOut, FleetState } from '../shared/fleet.js';
import type { BackendLoad } from '../shared/ipc.js';
import { narrowCandidates, type PanicScope } from '../shared/narrow-candidates.js';
import { Backend } from './backend.js';

export type { PanicScope };
export const PANIC_SCOPES: readonly PanicScope[] = ['fleet', 'model'];

/** What select() found: a backend, or why there is none. */
export type Selection =
  | { readonly kind: 'backend'; readonly backend: Backend; readonly panic: PanicScope | null }
  | { readonly kind: 'model_not_found' }
  | { readonly kind: 'no_backend' };

const MODEL_NOT_FOUND: Selection = Object.freeze({ kind: 'model_not_found' });
const NO_BACKEND: Selection = Object.freeze({ kind: 'no_backend' });

export interface BackendSetHooks {
  out(verdict: BackendOut): void;
  /** A backend's attempts in progress or in prefill changed. */
  loadChanged(backend: Backend): void;
  /** How a key-routed request's first attempt went. */
  affinity(result: AffinityResult): void;
}

/**
 * A worker's view of the fleet: one Backend per URL, kept in step with the primary's FleetState, and the
 * one select() that every request goes through after its body has been inspected, and again for each
 * retry. Selection narrows the fleet (narrowCandidates: the model, up, not tried, not held) and lets the
 * policy choose among what is left.
 */
export class BackendSet {
  readonly #config: Config;
  readonly #recorder: RequestRecorder;
  readonly #selector: Selector;
  /** The policy routes by a key: it is asked even with one candidate, to say how the key fared. */
  readonly #keyed: boolean;
  readonly #limits: SaturationLimits;
  /**
   * The last few requests a backend can take are left to the primary's queue to hand out (see saturatedFor):
   * one per other worker, whose sends this worker hears of only with their next load report.
   */
  readonly #reserve: number;
  /** The engines' last readings by URL, kept for backends that join later. */
  #engines = new Map<string, EngineView>();
  readonly #hooks: BackendSetHooks;
  readonly #byUrl = new Map<string, Backend>();
  /** Backends in the fleet (not removed), in the primary's order. */
  #active: Backend[] = [];
  #modelCards: readonly Record<string, unknown>[] = [];
  // Scratch lists, reused by every select(): the request path allocates none.
  readonly #eligible: Backend[] = [];
  readonly #candidates: Backend[] = [];
  readonly #forgetTimers = new Map<string, NodeJS.Timeout>();
  #removedSeriesGraceMs: number;

  constructor(config: Config, recorder: RequestRecorder, hooks: BackendSetHooks, graceMs = config.removedSeriesGraceMs) {
    this.#config = config;
    this.#recorder = recorder;
    const policy = routingPolicy(config.routing);
    this.#selector = policy.create({
      loadFactor: config.affinityLoadFactor,
      bound: config.affinityBound,
      record: (result) => hooks.affinity(result),
    });
    this.#keyed = policy.key !== null;
    this.#hooks = hooks;
    this.#removedSeriesGraceMs = graceMs;
    this.#limits = { waiting: config.saturationWaiting, kv: config.saturationKv };
    this.#reserve = config.workers - 1;
  }

  get limits(): SaturationLimits {
    return this.#limits;
  }

  /** Whether a backend is at (or one request from) the room the primary hands out itself. */
  isNearlyFull(backend: Backend): boolean {
    return backend.room(this.#limits) <= this.#reserve + 1;
  }

  /** Every backend in the fleet, for /healthz, the load report and the metrics. */
  get all(): readonly Backend[] {
    return this.#active;
  }

  /** The backend of the fleet at `url`; null when there is none (or it left). */
  get(url: string): Backend | null {
    const backend = this.#byUrl.get(url);
    return backend === undefined || backend.removed ? null : backend;
  }

  /** The union of the up backends' models, as GET /v1/models answers it. */
  get modelCards(): readonly Record<string, unknown>[] {
    return this.#modelCards;
  }

  /** Brings the set in step with the primary: new backends join, changed ones update, missing ones leave. */
  apply(state: FleetState): void {
    const next: Backend[] = [];
    const seen = new Set<string>();
    for (const entry of state.backends) {
      seen.add(entry.url);
      let backend = this.#byUrl.get(entry.url);
      if (backend === undefined || backend.removed) {
        backend = new Backend(entry, this.#config, this.#recorder.backend(entry.url), {
          out: (verdict) => this.#hooks.out(verdict),
          loadChanged: (backend) => this.#hooks.loadChanged(backend),
        });
        backend.engine = this.#engines.get(entry.url) ?? null;
        this.#byUrl.set(entry.url, backend);
        clearTimeout(this.#forgetTimers.get(entry.url));
        this.#forgetTimers.delete(entry.url);
      } else backend.apply(entry);
      next.push(backend);
    }
    for (const backend of this.#active) if (!seen.has(backend.url)) this.#remove(backend);
    this.#active = next;
    this.#modelCards = state.modelCards;
  }

  /** The other workers' attempts in progress and still prefilling, by URL (this worker's own are left out by the caller). */
  setOthersLoad(othersByUrl: ReadonlyMap<string, BackendLoad>): void {
    for (const backend of this.#active) {
      const [inFlight, prefilling] = othersByUrl.get(backend.url) ?? [0, 0];
      backend.othersInFlight = inFlight;
      backend.othersPrefilling = prefilling;
    }
  }

  /** The engines' readings that changed (null: no fresh reading any more), as the primary sends them. */
  setEngines(entries: ReadonlyArray<readonly [string, EngineView | null]>): void {
    for (const [url, view] of entries) {
      if (view === null) this.#engines.delete(url);
      else this.#engines.set(url, view);
      const backend = this.#byUrl.get(url);
      if (backend !== undefined) backend.engine = view;
    }
  }

  /**
   * The backend for one attempt. `tried` holds the backends this request already failed on: a retry goes
   * to another one while one is up, and back to a tried one only when nothing else is left. Backends with
   * room are preferred to saturated ones. `granted`: the backend the primary's queue gave the request,
   * taken while it is still a candidate.
   */
  select(facts: RoutingFacts, tried: readonly Backend[] | null, granted: Backend | null = null): Selection {
    const now = Date.now();
    const eligible = this.#eligible;
    const candidates = this.#candidates;
    eligible.length = 0;
    candidates.length = 0;
    const panic = narrowCandidates(this.#active, facts.model, this.#config.unknownModel === 'pass', tried, now, eligible, candidates);
    if (panic === 'none') return this.#active.length === 0 ? NO_BACKEND : MODEL_NOT_FOUND;
    if (granted !== null && candidates.includes(granted)) {
      candidates.length = 0;
      candidates.push(granted);
    } else this.#keepThoseWithRoom(candidates);
    // With one candidate the choice is made, but a keyed policy still says how the key fared.
    const backend =
      candidates.length === 1 && !this.#keyed
        ? (candidates[0] as Backend)
        : this.#selector.select(candidates, facts, now, { eligible, first: tried === null });
    eligible.length = 0;
    candidates.length = 0;
    return { kind: 'backend', backend, panic };
  }

  /**
   * True when no backend the request may go to now has room beyond the reserve: the primary decides (it
   * queues the request, or sends it at once where it sees room). False when some has room, or none may
   * serve the request (that answer is not the queue's).
   */
  saturatedFor(facts: RoutingFacts): boolean {
    const eligible = this.#eligible;
    const candidates = this.#candidates;
    eligible.length = 0;
    candidates.length = 0;
    narrowCandidates(this.#active, facts.model, this.#config.unknownModel === 'pass', null, Date.now(), eligible, candidates);
    let saturated = candidates.length > 0;
    for (const backend of candidates) if (backend.room(this.#limits) > this.#reserve) saturated = false;
    eligible.length = 0;
    candidates.length = 0;
    return saturated;
  }

  /** Drops the saturated candidates when some have room; keeps them all when none has (sent on, or queued by the caller). */
  #keepThoseWithRoom(candidates: Backend[]): void {
    let withRoom = 0;
    for (const backend of candidates) if (backend.room(this.#limits) > 0) withRoom++;
    if (withRoom === 0 || withRoom === candidates.length) return;
    let kept = 0;
    for (const backend of candidates) if (backend.room(this.#limits) > 0) candidates[kept++] = backend;
    candidates.length = kept;
  }

  /** True when a backend other than those tried could take the request: up, or any in panic mode. */
  hasAlternative(facts: RoutingFacts, tried: readonly Backend[]): boolean {
    const eligible = this.#eligible;
    eligible.length = 0;
    this.#eligibleInto(eligible, facts.model);
    const now = Date.now();
    let anyUp = false;
    let untriedUp = false;
    let untried = false;
    for (const backend of eligible) {
      const up = backend.isUp(now);
      const fresh = !tried.includes(backend);
      anyUp ||= up;
      untriedUp ||= up && fresh;
      untried ||= fresh;
    }
    eligible.length = 0;
    return anyUp ? untriedUp : untried;
  }

  /**
   * Fills `into` with the backends that may serve `model`: those that list it or whose list is not known;
   * with --unknown-model pass, every backend when none does. False when there is none.
   */
  #eligibleInto(into: Backend[], model: string | null): boolean {
    for (const backend of this.#active) if (backend.serves(model)) into.push(backend);
    if (into.length === 0 && this.#config.unknownModel === 'pass') for (const backend of this.#active) into.push(backend);
    return into.length > 0;
  }

  /** Closes every pool: idle connections at once, those in use when their attempt ends. */
  async close(): Promise<void> {
    for (const timer of this.#forgetTimers.values()) clearTimeout(timer);
    this.#forgetTimers.clear();
    await Promise.all([...this.#byUrl.values()].map((backend) => backend.close().catch(() => undefined)));
  }

  /** A backend left the fleet: no new attempts; its pool closes when those in progress end. */
  #remove(backend: Backend): void {
    backend.removed = true;
    this.#dropWhenIdle(backend);
    const timer = setTimeout(() => {
      this.#forgetTimers.delete(backend.url);
      if (this.#byUrl.get(backend.url) === backend) this.#byUrl.delete(backend.url);
      void this.#recorder.forget(backend.url);
    }, this.#removedSeriesGraceMs);
    timer.unref();
    this.#forgetTimers.set(backend.url, timer);
  }

  #dropWhenIdle(backend: Backend): void {
    // undici's close() waits for the requests in progress (up to the drain deadline: after it, destroy).
    const deadline = setTimeout(() => void backend.destroy().catch(() => undefined), this.#config.drainTimeoutMs);
    deadline.unref();
    void backend
      .close()
      .catch(() => undefined)
      .finally(() => clearTimeout(deadline));
  }
}
