import type { Counter } from 'prom-client';

type CounterChild = ReturnType<Counter<string>['labels']>;

/**
 * A counter increment kept in a plain number and handed to prom-client only when a snapshot is taken:
 * each prom-client inc() hashes its label set, which is measurable at thousands of requests a second.
 */
export class DeferredCount {
  readonly #child: CounterChild;
  #pending = 0;

  constructor(child: CounterChild) {
    this.#child = child;
  }

  add(amount = 1): void {
    this.#pending += amount;
  }

  flush(): void {
    if (this.#pending === 0) return;
    this.#child.inc(this.#pending);
    this.#pending = 0;
  }
}
