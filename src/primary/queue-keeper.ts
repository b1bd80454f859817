import type { Registry } from 'prom-client';
import type { QueuePrimaryMessage, QueueWorkerMessage } from '../admission/queue-messages.js';
import { type QueuedRequest, SlotGranter } from '../admission/slot-granter.js';
import type { Config } from '../config/types.js';
import type { EngineLoad } from '../engines/engine-registry.js';
import { type AdmissionMetrics, createAdmissionMetrics } from '../metrics/admission-metrics.js';
import type { KeyHash } from '../routing/key-hash.js';
import { rendezvousScore } from '../routing/rendezvous.js';
import type { FleetBackend, FleetState } from '../shared/fleet.js';
import { type Narrowable, narrowCandidates } from '../shared/narrow-candidates.js';
import { EngineTable } from './engine-table.js';
import type { LoadTable } from './load-table.js';

export interface QueueKeeperLink {
  send(workerId: number, message: QueuePrimaryMessage): void;
  broadcast(message: QueuePrimaryMessage): void;
}

/** A backend of the fleet as the queue's narrowing sees it (the same rules as a worker's selection). */
class QueuedBackend implements Narrowable {
  readonly entry: FleetBackend;
  readonly #models: ReadonlySet<string> | null;

  constructor(entry: FleetBackend) {
    this.entry = entry;
    this.#models = entry.models === null ? null : new Set(entry.models);
  }

  serves(model: string | null): boolean {
    return model === null || this.#models === null || this.#models.has(model);
  }

  isUp(nowMs: number): boolean {
    return this.entry.health.up && nowMs >= this.entry.health.ejectedUntilMs;
  }

  isHeld(nowMs: number): boolean {
    return nowMs < this.entry.health.heldUntilMs;
  }
}

/**
 * The primary's admission side: the engines' readings (EngineTable) and the one queue of the instance
 * (SlotGranter), fed by the workers' messages and load reports and by the prober, and its metrics.
 */
export class QueueKeeper {
  readonly #link: QueueKeeperLink;
  readonly #loads: LoadTable;
  readonly #metrics: AdmissionMetrics;
  readonly #engines: EngineTable;
  readonly #granter: SlotGranter;
  readonly #routingKeys = new Map<string, KeyHash>();
  #config: Config;
  #backends: QueuedBackend[] = [];
  #byUrl = new Map<string, QueuedBackend>();
  #pumpScheduled: NodeJS.Immediate | null = null;
  #queued = false;
  #tieBreak = 0;

  constructor(config: Config, registry: Registry, loads: LoadTable, link: QueueKeeperLink) {
    this.#config = config;
    this.#link = link;
    this.#loads = loads;
    this.#metrics = createAdmissionMetrics(registry, {
      depth: (priority) => this.#granter.depth(priority),
      // Only a backend that can be saturated has the series: one with an engine reading or a max_concurrency.
      saturation: () =>
        this.#backends
          .filter((backend) => backend.entry.maxConcurrency !== null || this.#engines.view(backend.entry.url) !== null)
          .map((backend) => [backend.entry.url, this.#granter.room(backend.entry.url) === 0] as const),
    });
    this.#engines = new EngineTable((entries) => link.broadcast({ type: 'iproxy:engines', entries }), this.#metrics);
    this.#granter = new SlotGranter(
      {
        candidates: (model) => this.#candidates(model),
        own: (url) => loads.total(url),
        view: (url) => this.#engines.view(url),
        maxConcurrency: (url) => this.#byUrl.get(url)?.entry.maxConcurrency ?? null,
        choose: (request, urls) => this.#choose(request, urls),
        grant: (request, url) => {
          this.#routingKeys.delete(nameOf(request));
          link.send(request.worker, { type: 'iproxy:queue-grant', request: request.request, url });
        },
        expired: (request) => {
          this.#routingKeys.delete(nameOf(request));
          link.send(request.worker, { type: 'iproxy:queue-expired', request: request.request });
          this.#stateChanged();
        },
      },
      this.#metrics,
      { waiting: config.saturationWaiting, kv: config.saturationKv },
      config.queueTimeoutMs,
    );
  }

  /** True while anything is in progress or waiting: engines are read at the busy pace. */
  busy(): boolean {
    return this.#loads.busy() || this.#granter.size > 0;
  }

  /** A new reading of a backend's engine (null: it went stale). */
  engine(url: string, load: EngineLoad | null): void {
    this.#engines.reading(url, load, this.#granter.load(url));
    this.#schedulePump();
  }

  fleet(state: FleetState): void {
    const before = this.#byUrl;
    this.#backends = state.backends.map((entry) => new QueuedBackend(entry));
    this.#byUrl = new Map(this.#backends.map((backend) => [backend.entry.url, backend]));
    // A backend that left takes what was read and learned of its engine with it.
    for (const url of before.keys()) if (!this.#byUrl.has(url)) this.#engines.forget(url);
    this.#schedulePump();
  }

  /** A worker's load changed: a request may have ended and left room. */
  loadChanged(): void {
    if (this.#granter.size > 0) this.#schedulePump();
  }

  onMessage(workerId: number, message: QueueWorkerMessage): void {
    switch (message.type) {
      case 'iproxy:queue-enter': {
        const request: QueuedRequest = { worker: workerId, request: message.request, model: message.model };
        if (message.routingKey !== null) this.#routingKeys.set(nameOf(request), message.routingKey);
        this.#granter.enqueue(request, message.priority, message.key, message.weight);
        break;
      }
      case 'iproxy:queue-leave':
        this.#routingKeys.delete(`${workerId}:${message.request}`);
        this.#granter.leave(workerId, message.request, message.reason);
        break;
      case 'iproxy:queue-sent':
        this.#loads.report(workerId, message.load);
        this.#granter.sent(workerId, message.request);
        break;
    }
    this.#schedulePump();
  }

  workerGone(workerId: number): void {
    for (const name of [...this.#routingKeys.keys()]) if (name.startsWith(`${workerId}:`)) this.#routingKeys.delete(name);
    this.#granter.workerGone(workerId);
    this.#schedulePump();
  }

  /** A reload: the new saturation limits and queue timeout apply from now on. */
  reconfigure(config: Config): void {
    this.#config = config;
    this.#granter.reconfigure({ waiting: config.saturationWaiting, kv: config.saturationKv }, config.queueTimeoutMs);
    this.#schedulePump();
  }

  /** What a worker that just started must know: every engine reading, and whether requests wait. */
  welcome(workerId: number): void {
    this.#link.send(workerId, { type: 'iproxy:engines', entries: this.#engines.all() });
    this.#link.send(workerId, { type: 'iproxy:queue-state', queued: this.#queued });
  }

  close(): void {
    this.#granter.close();
    this.#engines.close();
    if (this.#pumpScheduled !== null) clearImmediate(this.#pumpScheduled);
  }

  /** Grants run once per turn of the loop, after every message of that turn. */
  #schedulePump(): void {
    if (this.#pumpScheduled !== null) return;
    this.#pumpScheduled = setImmediate(() => {
      this.#pumpScheduled = null;
      if (this.#granter.size > 0) this.#granter.pump();
      this.#stateChanged();
    });
  }

  #stateChanged(): void {
    const queued = this.#granter.size > 0;
    if (queued === this.#queued) return;
    this.#queued = queued;
    this.#link.broadcast({ type: 'iproxy:queue-state', queued });
  }

  #candidates(model: string | null): string[] {
    const eligible: QueuedBackend[] = [];
    const candidates: QueuedBackend[] = [];
    narrowCandidates(this.#backends, model, this.#config.unknownModel === 'pass', null, Date.now(), eligible, candidates);
    return candidates.map((backend) => backend.entry.url);
  }

  /**
   * Of the backends with room, the request's: with an affinity key, the first of them in the key's order
   * (its home when that has room, as a worker would choose); else the least loaded per unit of weight, ties
   * taken in turn.
   */
  #choose(request: QueuedRequest, urls: readonly string[]): string {
    const weight = (url: string): number => this.#byUrl.get(url)?.entry.weight ?? 1;
    const key = this.#routingKeys.get(nameOf(request));
    if (key !== undefined) {
      let best = urls[0] as string;
      let bestScore = Number.NEGATIVE_INFINITY;
      for (const url of urls) {
        const score = rendezvousScore(key, url, weight(url));
        if (score > bestScore) [best, bestScore] = [url, score];
      }
      return best;
    }
    const start = this.#tieBreak++ % urls.length;
    let best = urls[start] as string;
    let bestScore = Number.POSITIVE_INFINITY;
    for (let i = 0; i < urls.length; i++) {
      const url = urls[(start + i) % urls.length] as string;
      const score = this.#granter.fleetLoad(url) / weight(url);
      if (score < bestScore) [best, bestScore] = [url, score];
    }
    return best;
  }
}

function nameOf(request: QueuedRequest): string {
  return `${request.worker}:${request.request}`;
}
