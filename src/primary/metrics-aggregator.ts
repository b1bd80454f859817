import type { Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { PrimaryMetrics } from '../metrics/definitions.js';
import type { MetricsSnapshot } from '../shared/ipc.js';
import { retainMonotonic } from './snapshot-merge.js';

/** Below the worker relay's timeout and well below a typical 10 s Prometheus scrape timeout. */
const WORKER_METRICS_TIMEOUT_MS = 2_000;

interface Pending {
  readonly workerId: number;
  readonly resolve: (snapshot: MetricsSnapshot | null) => void;
}

/**
 * Merges the workers' registries and the primary's own into one exposition. We do the fan-out
 * ourselves instead of prom-client's clusterMetrics(): that one fails whole on one slow worker,
 * has a fixed 5 s timeout and leaks on timeout. Here a worker that does not answer in time is
 * represented by its last snapshot, and a worker that exits leaves its counters behind, so counter
 * totals never drop (a drop reads as a reset to Prometheus and rate() would spike).
 */
export class MetricsAggregator {
  readonly #primaryRegistry: Registry;
  readonly #primaryMetrics: PrimaryMetrics;
  readonly #timeoutMs: number;
  readonly #last = new Map<number, MetricsSnapshot>();
  readonly #pending = new Map<number, Pending>();
  /** Workers forked and not yet retired: only their snapshots are accepted. */
  readonly #live = new Set<number>();
  #retired: MetricsSnapshot = [];
  /** Backends forgotten (and not back in the fleet since): a worker retired later brings none of their series back. */
  readonly #forgotten = new Set<string>();
  #nextId = 1;
  #inflight: Promise<string> | null = null;

  constructor(primaryRegistry: Registry, primaryMetrics: PrimaryMetrics, timeoutMs = WORKER_METRICS_TIMEOUT_MS) {
    this.#primaryRegistry = primaryRegistry;
    this.#primaryMetrics = primaryMetrics;
    this.#timeoutMs = timeoutMs;
  }

  get contentType(): string {
    return this.#primaryRegistry.contentType;
  }

  /** Concurrent scrapes share one fan-out. */
  render(workers: readonly Worker[]): Promise<string> {
    if (this.#inflight === null) {
      this.#inflight = this.#collect(workers).finally(() => {
        this.#inflight = null;
      });
    }
    return this.#inflight;
  }

  onSnapshot(workerId: number, id: number, snapshot: MetricsSnapshot): void {
    const pending = this.#pending.get(id);
    if (pending === undefined || pending.workerId !== workerId) return;
    this.#pending.delete(id);
    pending.resolve(snapshot);
  }

  track(workerId: number): void {
    this.#live.add(workerId);
  }

  /** A worker's last words before a graceful exit. */
  onFinalSnapshot(workerId: number, snapshot: MetricsSnapshot): void {
    if (this.#live.has(workerId)) this.#last.set(workerId, snapshot);
  }

  /** A backend left the fleet long ago: its series leave the retired totals too, so /metrics does not grow for ever. */
  forgetUrl(url: string): void {
    this.#forgotten.add(url);
    this.#retired = withoutUrls(this.#retired, this.#forgotten);
  }

  /** The fleet now: a forgotten backend that is back counts again. */
  fleetUrls(urls: readonly string[]): void {
    for (const url of urls) this.#forgotten.delete(url);
  }

  /** The worker is gone: its last known counts join the retired totals, exactly once. */
  retire(workerId: number): void {
    if (!this.#live.delete(workerId)) return;
    const last = this.#last.get(workerId);
    this.#last.delete(workerId);
    // A worker's last snapshot can predate its own forgetting of a backend the primary has already forgotten
    // (its grace timer starts when the fleet update reaches it, a little later): leave those series out.
    if (last !== undefined) this.#retired = retainMonotonic(this.#retired, withoutUrls(last, this.#forgotten));
    for (const [id, pending] of this.#pending) {
      if (pending.workerId !== workerId) continue;
      this.#pending.delete(id);
      pending.resolve(null);
    }
  }

  async #collect(workers: readonly Worker[]): Promise<string> {
    await Promise.all(workers.map((worker) => this.#ask(worker)));
    const primary = await this.#primaryRegistry.getMetricsAsJSON();
    // From here on synchronous: every worker counts exactly once, either through its latest snapshot
    // or, if it exited meanwhile, through the retired totals.
    return AggregatorRegistry.aggregate([...this.#last.values(), this.#retired, primary]).metrics();
  }

  #ask(worker: Worker): Promise<void> {
    const workerId = worker.id;
    const id = this.#nextId++;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        this.#primaryMetrics.scrapeWorkerFailures.inc();
        resolve();
      }, this.#timeoutMs);
      this.#pending.set(id, {
        workerId,
        resolve: (snapshot) => {
          clearTimeout(timer);
          if (snapshot !== null && this.#live.has(workerId)) this.#last.set(workerId, snapshot);
          resolve();
        },
      });
      try {
        worker.send({ type: 'iproxy:metrics-req', id });
      } catch {
        // The channel closed between the liveness check and the send; retire() or the timer settles it.
      }
    });
  }
}

function withoutUrls(snapshot: MetricsSnapshot, urls: ReadonlySet<string>): MetricsSnapshot {
  if (urls.size === 0) return snapshot;
  return snapshot.map((metric) => ({ ...metric, values: metric.values.filter((value) => !urls.has(value.labels.url as string)) }));
}
