import { QPS_WINDOW_S } from './definitions.js';

const SLOT_MS = 1000;

/**
 * Events per second over the last QPS_WINDOW_S seconds, in one-second slots. Counting is O(1) and
 * allocation-free; the rate is computed only when /metrics is scraped.
 */
export class RateWindow {
  readonly #slots = new Float64Array(QPS_WINDOW_S);
  #slotStartMs = 0;
  #slotIndex = 0;
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
    this.#slotStartMs = Math.floor(now() / SLOT_MS) * SLOT_MS;
  }

  add(count = 1): void {
    this.#advance();
    this.#slots[this.#slotIndex] = (this.#slots[this.#slotIndex] ?? 0) + count;
  }

  perSecond(): number {
    return this.total() / QPS_WINDOW_S;
  }

  /** Events in the last QPS_WINDOW_S seconds. */
  total(): number {
    this.#advance();
    let total = 0;
    for (const value of this.#slots) total += value;
    return total;
  }

  #advance(): void {
    const now = this.#now();
    const elapsedSlots = Math.floor((now - this.#slotStartMs) / SLOT_MS);
    if (elapsedSlots <= 0) return;
    const clear = Math.min(elapsedSlots, QPS_WINDOW_S);
    for (let i = 1; i <= clear; i++) this.#slots[(this.#slotIndex + i) % QPS_WINDOW_S] = 0;
    this.#slotIndex = (this.#slotIndex + elapsedSlots) % QPS_WINDOW_S;
    this.#slotStartMs += elapsedSlots * SLOT_MS;
  }
}
