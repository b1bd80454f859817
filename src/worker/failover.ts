import type { BackendRecorder, RetryReason } from '../metrics/request-recorder.js';
import type { RoutingFacts } from '../routing/selector.js';
import type { AttemptNote } from './access-log.js';
import type { Backend } from './backend.js';
import type { BackendSet, PanicScope } from './backend-set.js';
import type { RetryBudget } from './retry-budget.js';

const NO_FACTS: RoutingFacts = Object.freeze({ model: null, key: null });

/** An attempt that failed before any byte reached the client. */
export interface AttemptFailure {
  readonly backend: Backend;
  readonly reason: RetryReason;
  /** The head's status when the backend answered one (429, 502, 503, 504). */
  readonly status: number | null;
}

export type Choice =
  | { readonly kind: 'backend'; readonly backend: Backend; readonly fresh: boolean }
  | { readonly kind: 'model_not_found' }
  | { readonly kind: 'no_backend' };

/** What every request's failover shares: the fleet, the worker's retry budget and counters. */
export interface FailoverContext {
  readonly backends: BackendSet;
  readonly budget: RetryBudget;
  /** Extra attempts allowed per request (--retries). */
  readonly retries: number;
  /** Where requests answered without a backend are counted. */
  readonly unrouted: BackendRecorder;
  /** A request went out while none of the backends that serve it was up (backend_panic_total{scope}). */
  onPanic(scope: PanicScope): void;
}

/**
 * The attempts of one request: which backend each goes to, and whether a failed one may be sent again.
 * A retry happens only while nothing has reached the client (the caller checks), only with the body in
 * hand, at most --retries times, within the worker's retry budget, and on another backend while one is
 * up. The one exception is the keep-alive race (a reset before any byte): with no other backend left it
 * goes once more to the same one, on a fresh connection.
 */
export class Failover {
  readonly #context: FailoverContext;
  #facts: RoutingFacts = NO_FACTS;
  #replayable = false;
  #tried: Backend[] | null = null;
  #fresh = false;
  /** The attempt in progress went out on a fresh connection of its own. */
  #onFreshConnection = false;
  #notes: AttemptNote[] | null = null;
  #panicked = false;
  /** The backend the admission queue granted the request, for its first attempt. */
  #granted: Backend | null = null;

  constructor(context: FailoverContext) {
    this.#context = context;
  }

  get unrouted(): BackendRecorder {
    return this.#context.unrouted;
  }

  /** The attempts, for the access log, when there was more than one. */
  get history(): readonly AttemptNote[] | null {
    return this.#notes;
  }

  begin(facts: RoutingFacts, replayable: boolean): void {
    this.#facts = facts;
    this.#replayable = replayable;
    this.#context.budget.requested();
  }

  /** The admission queue granted the request this backend: its first attempt goes there while it may. */
  grant(backend: Backend | null): void {
    this.#granted = backend;
  }

  choose(): Choice {
    const granted = this.#tried === null ? this.#granted : null;
    const selection = this.#context.backends.select(this.#facts, this.#tried, granted);
    if (selection.kind !== 'backend') return selection;
    if (selection.panic !== null && !this.#panicked) {
      this.#panicked = true;
      this.#context.onPanic(selection.panic);
    }
    const fresh = this.#fresh && this.#tried?.includes(selection.backend) === true;
    this.#fresh = false;
    this.#onFreshConnection = fresh;
    return { kind: 'backend', backend: selection.backend, fresh };
  }

  /** Decides and records a retry of `failure`; false when the failed attempt's outcome must stand. */
  retry(failure: AttemptFailure): boolean {
    const attempts = (this.#tried?.length ?? 0) + 1;
    if (!this.#replayable || attempts > this.#context.retries) return false;
    const tried = this.#tried ?? [];
    tried.push(failure.backend);
    const elsewhere = this.#context.backends.hasAlternative(this.#facts, tried);
    // Back to the same backend only for the keep-alive race: a reset on a pooled connection, once.
    if (!elsewhere && (failure.reason !== 'reset' || this.#onFreshConnection)) {
      tried.pop();
      return false;
    }
    if (!this.#context.budget.tryRetry()) {
      tried.pop();
      return false;
    }
    this.#tried = tried;
    this.#fresh = failure.reason === 'reset';
    failure.backend.metrics.retried(failure.reason);
    this.#notes ??= [];
    this.#notes.push({ backend: failure.backend.url, result: failure.status ?? failure.reason });
    return true;
  }
}
