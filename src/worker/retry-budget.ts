import { RateWindow } from '../metrics/rate-window.js';

/** Retries may add at most this share of the requests in the window… */
const RETRY_RATIO = 0.2;
/** …plus this many per window, so that a quiet proxy can still retry its few failures. */
const RETRY_FLOOR = 10;

/**
 * Caps retries at 20% of the requests over a sliding 10 s window plus a floor of 10 (the retry budget of
 * Envoy and Finagle): when the whole fleet is failing, retrying every request twice would triple the load
 * on it exactly when it can least take it. Kept per worker.
 */
export class RetryBudget {
  readonly #requests: RateWindow;
  readonly #retries: RateWindow;

  constructor(now: () => number = Date.now) {
    this.#requests = new RateWindow(now);
    this.#retries = new RateWindow(now);
  }

  /** A client request arrived (retries are not requests). */
  requested(): void {
    this.#requests.add();
  }

  /** Takes one retry from the budget; false when it is spent. */
  tryRetry(): boolean {
    if (this.#retries.total() >= RETRY_FLOOR + RETRY_RATIO * this.#requests.total()) return false;
    this.#retries.add();
    return true;
  }
}
