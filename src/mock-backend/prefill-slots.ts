/**
 * At most `slots` holders at once; the others wait first come, first served, the way requests queue for
 * a GPU's prefill. A slot is handed straight from the releasing holder to the first waiter.
 */
export class PrefillSlots {
  // A Set keeps insertion order and removes a waiter that gives up in O(1).
  readonly #waiting = new Set<() => void>();
  #free: number;

  constructor(slots: number) {
    this.#free = slots;
  }

  get waiting(): number {
    return this.#waiting.size;
  }

  /** Calls `granted` once a slot is held (at once if one is free); the returned function withdraws a waiter. */
  acquire(granted: () => void): () => void {
    if (this.#free > 0) {
      this.#free--;
      granted();
      return () => {};
    }
    // A fresh function per call, so the same callback queued twice is two waiters.
    const waiter = (): void => granted();
    this.#waiting.add(waiter);
    return () => {
      this.#waiting.delete(waiter);
    };
  }

  /** Gives a held slot back: to the first waiter, or to the pool. */
  release(): void {
    for (const next of this.#waiting) {
      this.#waiting.delete(next);
      next();
      return;
    }
    this.#free++;
  }
}
