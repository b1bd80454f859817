import type { Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { PrimaryMetrics } from '../metrics/definitions.js';
import type { MetricsDelta } from '../metrics/snapshot-delta.js';
import type { MetricsSnapshot } from '../shared/ipc.js';
import { retainMonotonic } from './snapshot-merge.js';
import { WorkerSnapshot } from './worker-snapshot.js';

/** Below the worker relay's timeout and well below a typical 10 s Prometheus scrape timeout. */
const WORKER_METRICS_TIMEOUT_MS = 2_000;

type MetricFamily = MetricsSnapshot[number];

interface LiveWorker {
  readonly snapshot: WorkerSnapshot;
  /** A delta went missing: the next request asks for everything. */
  needsFull: boolean;
  /** Requests sent and not answered yet, by id. */
  readonly pending: Map<number, () => void>;
}

/** Some families of the merged exposition, and a stamp that changes whenever any of them does. */
export interface FamiliesText {
  readonly text: string;
  readonly stamp: string;
}

/**
 * Merges the workers' registries and the primary's own into one exposition. We do the fan-out ourselves
 * instead of prom-client's clusterMetrics(): that one fails whole on one slow worker, has a fixed 5 s
 * timeout and leaks on timeout. Here a worker that does not answer in time is represented by its last
 * snapshot, and a worker that exits leaves its counters behind, so counter totals never drop (a drop reads
 * as a reset to Prometheus and rate() would spike).
 *
 * What it costs grows with what changed (issue 18): each worker answers with the series that changed since
 * its last answer (SnapshotDiffer), the primary keeps every worker's registry (WorkerSnapshot), and only the
 * families that changed go through AggregatorRegistry.aggregate() again; the text of the others is kept.
 */
export class MetricsAggregator {
  readonly #primaryRegistry: Registry;
  readonly #primaryMetrics: PrimaryMetrics;
  readonly #timeoutMs: number;
  /** Workers forked and not yet retired: only their deltas are applied. */
  readonly #live = new Map<number, LiveWorker>();
  #retired = new Map<string, MetricFamily>();
  /** Backends forgotten (and not back in the fleet since): a worker retired later brings none of their series back. */
  readonly #forgotten = new Set<string>();
  /** The merged text of each family, in exposition order, and how often each has changed. */
  readonly #texts = new Map<string, string>();
  readonly #versions = new Map<string, number>();
  /** Families that changed since their text was made. */
  readonly #dirty = new Set<string>();
  #nextId = 1;
  #inflight: Promise<void> | null = null;

  constructor(primaryRegistry: Registry, primaryMetrics: PrimaryMetrics, timeoutMs = WORKER_METRICS_TIMEOUT_MS) {
    this.#primaryRegistry = primaryRegistry;
    this.#primaryMetrics = primaryMetrics;
    this.#timeoutMs = timeoutMs;
  }

  get contentType(): string {
    return this.#primaryRegistry.contentType;
  }

  /** The whole exposition. Concurrent callers share one round of questions to the workers. */
  async render(workers: readonly Worker[]): Promise<string> {
    await this.#refresh(workers);
    return `${[...this.#texts.values()].join('\n\n')}\n`;
  }

  /** Only `names` (those that exist), after the same round as render(). */
  async renderFamilies(workers: readonly Worker[], names: readonly string[]): Promise<FamiliesText> {
    await this.#refresh(workers);
    const texts: string[] = [];
    for (const name of names) {
      const text = this.#texts.get(name);
      if (text !== undefined) texts.push(text);
    }
    return { text: `${texts.join('\n\n')}\n`, stamp: names.map((name) => this.#versions.get(name) ?? 0).join(',') };
  }

  /** A worker's answer, in time or late: applied all the same (it is the newest state that worker had). */
  onSnapshot(workerId: number, id: number, delta: MetricsDelta): void {
    const live = this.#live.get(workerId);
    if (live === undefined) return;
    this.#apply(live, delta);
    const settle = live.pending.get(id);
    live.pending.delete(id);
    settle?.();
  }

  track(workerId: number): void {
    this.#live.set(workerId, { snapshot: new WorkerSnapshot(), needsFull: false, pending: new Map() });
  }

  /** A worker's last words before a graceful exit. */
  onFinalSnapshot(workerId: number, delta: MetricsDelta): void {
    const live = this.#live.get(workerId);
    if (live !== undefined) this.#apply(live, delta);
  }

  /** A backend left the fleet long ago: its series leave the retired totals too, so /metrics does not grow for ever. */
  forgetUrl(url: string): void {
    this.#forgotten.add(url);
    this.#retired = byName(withoutUrls([...this.#retired.values()], this.#forgotten));
    for (const name of this.#retired.keys()) this.#dirty.add(name);
  }

  /** The fleet now: a forgotten backend that is back counts again. */
  fleetUrls(urls: readonly string[]): void {
    for (const url of urls) this.#forgotten.delete(url);
  }

  /** The worker is gone: its last known counts join the retired totals, exactly once. */
  retire(workerId: number): void {
    const live = this.#live.get(workerId);
    if (live === undefined) return;
    this.#live.delete(workerId);
    const last = live.snapshot.toSnapshot();
    // A worker's last snapshot can predate its own forgetting of a backend the primary has already forgotten
    // (its grace timer starts when the fleet update reaches it, a little later): leave those series out.
    this.#retired = byName(retainMonotonic([...this.#retired.values()], withoutUrls(last, this.#forgotten)));
    for (const family of last) this.#dirty.add(family.name);
    for (const settle of live.pending.values()) settle();
    live.pending.clear();
  }

  #apply(live: LiveWorker, delta: MetricsDelta): void {
    const touched = live.snapshot.apply(delta);
    if (touched === null) {
      live.needsFull = true;
      return;
    }
    for (const name of touched) this.#dirty.add(name);
  }

  #refresh(workers: readonly Worker[]): Promise<void> {
    if (this.#inflight === null) {
      this.#inflight = this.#collect(workers).finally(() => {
        this.#inflight = null;
      });
    }
    return this.#inflight;
  }

  async #collect(workers: readonly Worker[]): Promise<void> {
    await Promise.all(workers.map((worker) => this.#ask(worker)));
    const primary = byName((await this.#primaryRegistry.getMetricsAsJSON()) as MetricsSnapshot);
    // From here to the last aggregate() synchronous: every worker counts exactly once in every family, either
    // through its snapshot or, if it exited meanwhile, through the retired totals. One family at a time, so
    // that what a merge allocates is collectable before the next one (the primary's peak memory).
    for (const name of primary.keys()) this.#dirty.add(name);
    const merged: Array<{ name: string; registry: Registry | null }> = [];
    for (const name of this.#dirty) {
      const inputs: MetricsSnapshot[] = [];
      for (const { snapshot } of this.#live.values()) inputs.push(familiesOf(snapshot.family(name)));
      inputs.push(familiesOf(this.#retired.get(name)), familiesOf(primary.get(name)));
      // A family no process has any more, or one whose aggregator omits it (process_start_time_seconds), has no text.
      const registry: Registry | null = inputs.some((input) => input.length > 0) ? AggregatorRegistry.aggregate(inputs) : null;
      merged.push({ name, registry: registry?.getSingleMetric(name) === undefined ? null : registry });
    }
    this.#dirty.clear();
    for (const { name, registry } of merged) {
      if (registry === null) this.#texts.delete(name);
      else this.#texts.set(name, await registry.getSingleMetricAsString(name));
      this.#versions.set(name, (this.#versions.get(name) ?? 0) + 1);
    }
  }

  #ask(worker: Worker): Promise<void> {
    const live = this.#live.get(worker.id);
    if (live === undefined) return Promise.resolve();
    const id = this.#nextId++;
    const full = live.needsFull;
    live.needsFull = false;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        live.pending.delete(id);
        this.#primaryMetrics.scrapeWorkerFailures.inc();
        resolve();
      }, this.#timeoutMs);
      live.pending.set(id, () => {
        clearTimeout(timer);
        resolve();
      });
      try {
        // A false return is backpressure (the message is queued and will go), not a failure.
        worker.send({ type: 'iproxy:metrics-req', id, full });
      } catch {
        // The channel closed between the liveness check and the send; retire() or the timer settles it.
      }
    });
  }
}

/** A family as the one-element snapshot AggregatorRegistry.aggregate() takes (none when absent). */
function familiesOf(family: MetricFamily | undefined): MetricsSnapshot {
  return family === undefined ? [] : [family];
}

function byName(snapshot: MetricsSnapshot): Map<string, MetricFamily> {
  return new Map(snapshot.map((family) => [family.name, family]));
}

function withoutUrls(snapshot: MetricsSnapshot, urls: ReadonlySet<string>): MetricsSnapshot {
  if (urls.size === 0) return snapshot;
  return snapshot.map((metric) => ({ ...metric, values: metric.values.filter((value) => !urls.has(value.labels.url as string)) }));
}
