import type { BackendLoad, LoadReport } from '../shared/ipc.js';

/** How often the merged load goes out to the workers at most: their view of the others is this fresh. */
const LOAD_BROADCAST_MS = 50;

/**
 * Every worker's attempts in progress per backend, as last reported, handed back to all workers at most
 * every LOAD_BROADCAST_MS so that least-load routing counts the whole proxy, not one worker.
 */
export class LoadTable {
  readonly #byWorker = new Map<number, LoadReport>();
  readonly #broadcast: (loads: ReadonlyArray<readonly [number, LoadReport]>) => void;
  #timer: NodeJS.Timeout | null = null;

  constructor(broadcast: (loads: ReadonlyArray<readonly [number, LoadReport]>) => void) {
    this.#broadcast = broadcast;
  }

  report(workerId: number, load: LoadReport): void {
    this.#byWorker.set(workerId, load);
    this.#schedule();
  }

  /** A worker is gone: its attempts are gone with it. */
  remove(workerId: number): void {
    if (this.#byWorker.delete(workerId)) this.#schedule();
  }

  /** Attempts in progress per backend over all workers. */
  totals(): Map<string, number> {
    const out = new Map<string, number>();
    for (const load of this.#byWorker.values()) for (const url in load) out.set(url, (out.get(url) ?? 0) + (load[url] as BackendLoad)[0]);
    return out;
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
