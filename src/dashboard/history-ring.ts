/** The last `capacity` items pushed, oldest first: memory is fixed at construction, never grows with uptime. */
export class HistoryRing<T> {
  readonly #slots: Array<T | undefined>;
  #next = 0;
  #size = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.#slots = new Array<T | undefined>(capacity).fill(undefined);
  }

  get size(): number {
    return this.#size;
  }

  /** Adds `item`; once full, the oldest item makes room. */
  push(item: T): void {
    this.#slots[this.#next] = item;
    this.#next = (this.#next + 1) % this.#slots.length;
    this.#size = Math.min(this.#size + 1, this.#slots.length);
  }

  toArray(): T[] {
    const capacity = this.#slots.length;
    const first = (this.#next - this.#size + capacity) % capacity;
    return Array.from({ length: this.#size }, (_, i) => this.#slots[(first + i) % capacity] as T);
  }
}
