import { type EngineView, learnedCapacity } from '../admission/saturation.js';
import type { EngineLoad } from '../engines/engine-registry.js';
import type { AdmissionMetrics } from '../metrics/admission-metrics.js';

/** One backend's engine as the workers get it: null while there is no fresh reading. */
export type EngineEntry = readonly [url: string, view: EngineView | null];

/** Readings that come together (the reads are spread over the interval) go out as one message. */
const ENGINE_BROADCAST_MS = 20;

/**
 * The engines' last readings, kept by the primary and handed to the workers the way the load table is:
 * what changed, coalesced into one message. Each reading is stamped with this instance's own requests in
 * progress on the backend at that moment, so that a worker can carry it forward with its exact counts
 * (see saturation.ts), and teaches the backend's capacity. Also the backend_engine_* gauges.
 */
export class EngineTable {
  readonly #views = new Map<string, EngineView>();
  readonly #capacity = new Map<string, number>();
  readonly #changed = new Map<string, EngineView | null>();
  readonly #broadcast: (entries: EngineEntry[]) => void;
  readonly #metrics: AdmissionMetrics;
  #timer: NodeJS.Timeout | null = null;

  constructor(broadcast: (entries: EngineEntry[]) => void, metrics: AdmissionMetrics) {
    this.#broadcast = broadcast;
    this.#metrics = metrics;
  }

  view(url: string): EngineView | null {
    return this.#views.get(url) ?? null;
  }

  /** Every view, for a worker that just started. */
  all(): EngineEntry[] {
    return [...this.#views];
  }

  /** A new reading of `url`'s engine (null: it went stale) while this instance had `own` requests in progress on it. */
  reading(url: string, load: EngineLoad | null, own: number): void {
    if (load === null) {
      this.#stale(url);
      return;
    }
    const capacity = learnedCapacity(this.#capacity.get(url) ?? null, load.waiting, load.running);
    if (capacity !== null) this.#capacity.set(url, capacity);
    const view: EngineView = {
      waiting: load.waiting,
      running: load.running,
      kvUsage: load.kvUsage,
      ownAtReading: own,
      capacity,
      fresh: true,
    };
    const before = this.#views.get(url);
    this.#views.set(url, view);
    this.#metrics.engineWaiting.labels(url).set(view.waiting);
    this.#metrics.engineRunning.labels(url).set(view.running);
    if (view.kvUsage === null) this.#metrics.engineKvUsage.remove({ url });
    else this.#metrics.engineKvUsage.labels(url).set(view.kvUsage);
    if (before === undefined || !sameView(before, view)) this.#queue(url, view);
  }

  /** The backend left the fleet: its reading and what was learned of it go. */
  forget(url: string): void {
    this.#drop(url);
    this.#capacity.delete(url);
  }

  close(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** No fresh reading: its counts go, what was learned of its capacity stays (see EngineView.fresh). */
  #stale(url: string): void {
    const capacity = this.#capacity.get(url);
    if (capacity === undefined) {
      this.#drop(url);
      return;
    }
    for (const gauge of [this.#metrics.engineWaiting, this.#metrics.engineRunning, this.#metrics.engineKvUsage]) gauge.remove({ url });
    const view: EngineView = { waiting: 0, running: 0, kvUsage: null, ownAtReading: 0, capacity, fresh: false };
    const before = this.#views.get(url);
    this.#views.set(url, view);
    if (before === undefined || !sameView(before, view)) this.#queue(url, view);
  }

  #drop(url: string): void {
    if (!this.#views.delete(url)) return;
    for (const gauge of [this.#metrics.engineWaiting, this.#metrics.engineRunning, this.#metrics.engineKvUsage]) gauge.remove({ url });
    this.#queue(url, null);
  }

  #queue(url: string, view: EngineView | null): void {
    this.#changed.set(url, view);
    if (this.#timer !== null) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      const entries = [...this.#changed];
      this.#changed.clear();
      this.#broadcast(entries);
    }, ENGINE_BROADCAST_MS);
    this.#timer.unref();
  }
}

function sameView(a: EngineView, b: EngineView): boolean {
  return (
    a.waiting === b.waiting &&
    a.running === b.running &&
    a.kvUsage === b.kvUsage &&
    a.ownAtReading === b.ownAtReading &&
    a.capacity === b.capacity
  );
}
