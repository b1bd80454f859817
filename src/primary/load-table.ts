import type { BackendLoad, LoadReport } from '../shared/ipc.js';

/** How often the merged load goes out to the workers at most: their view of the others is this fresh. */
const LOAD_BROADCAST_MS = 50;

/**
 * Every worker's attempts in progress per backend, as last reported, handed back to all workers at most
 * every LOAD_BROADCAST_MS so that least-load routing counts the whole proxy, not one worker.
 */
export class LoadTable {
  readonly #byWorker = new Map<number, LoadReport>();
  /** Attempts in progress per backend over all workers, kept as reports come and go. */
  readonly #totals = new Map<string, number>();
  readonly #broadcast: (loads: ReadonlyArray<readonly [number, LoadReport]>) => void;
  #timer: NodeJS.Timeout | null = null;

  constructor(broadcast: (loads: ReadonlyArray<readonly [number, LoadReport]>) => void) {
    this.#broadcast = broadcast;
  }

  report(workerId: number, load: LoadReport): void {
    this.#add(this.#byWorker.get(workerId), -1);
    this.#byWorker.set(workerId, load);
    this.#add(load, 1);
    this.#schedule();
  }

  /** A worker is gone: its attempts are gone with it. */
  remove(workerId: number): void {
    const load = this.#byWorker.get(workerId);
    if (load === undefined) return;
    this.#add(load, -1);
    this.#byWorker.delete(workerId);
    this.#schedule();
  }

  /** Attempts in progress per backend over all workers. */
  totals(): ReadonlyMap<string, number> {
    return this.#totals;
  }

  /** Attempts in progress on `url` over all workers. */
  total(url: string): number {
    return this.#totals.get(url) ?? 0;
  }

  /** True while any worker has an attempt in progress anywhere. */
  busy(): boolean {
    return this.#totals.size > 0;
  }

  #add(load: LoadReport | undefined, sign: 1 | -1): void {
    if (load === undefined) return;
    for (const url in load) {
      const next = (this.#totals.get(url) ?? 0) + sign * (load[url] as BackendLoad)[0];
      if (next === 0) this.#totals.delete(url);
      else this.#totals.set(url, next);
    }
  }

  close(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #schedule(): void {
    if (this.#timer !== null) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#broadcast([...this.#byWorker]);
    }, LOAD_BROADCAST_MS);
    this.#timer.unref();
  }
}
