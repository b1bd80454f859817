import type { QueuePrimaryMessage, QueueWorkerMessage } from '../admission/queue-messages.js';
import type { QueueLeaveReason } from '../admission/slot-granter.js';
import type { Config } from '../config/types.js';
import { DeferredCount } from '../metrics/deferred-count.js';
import type { WorkerMetrics } from '../metrics/definitions.js';
import type { BackendRecorder, RequestRecorder } from '../metrics/request-recorder.js';
import { AFFINITY_RESULTS, type AffinityResult } from '../routing/affinity.js';
import { routingPolicy } from '../routing/policy-registry.js';
import type { RoutingFacts } from '../routing/selector.js';
import type { BackendOut, CheckRecords, FleetState } from '../shared/fleet.js';
import { type BackendHealth, fleetHealth } from '../shared/health.js';
import type { BackendLoad, LoadReport } from '../shared/ipc.js';
import type { Backend } from './backend.js';
import { BackendSet, PANIC_SCOPES, type PanicScope } from './backend-set.js';
import type { FailoverContext } from './failover.js';
import { QueueClient, type QueueEntryInfo, type QueueListener } from './queue-client.js';
import { RetryBudget } from './retry-budget.js';

/** routing_affinity_total, one deferred count per result, for the keyed policies only (zeroed at start). */
function affinityCounts(metrics: WorkerMetrics, config: Config): Record<AffinityResult, DeferredCount> | null {
  if (routingPolicy(config.routing).key === null) return null;
  const counts = {} as Record<AffinityResult, DeferredCount>;
  for (const result of AFFINITY_RESULTS) {
    const child = metrics.routingAffinity.labels(config.routing, result);
    child.inc(0);
    counts[result] = new DeferredCount(child);
  }
  return counts;
}

/** How often this worker reports its attempts in progress per backend, when they changed. */
const LOAD_REPORT_MS = 25;

export interface WorkerFleetLink {
  /** Per backend URL: this worker's attempts in progress, and of those the ones still prefilling. */
  reportLoad(load: LoadReport): void;
  /** A verdict from this worker's traffic, for the primary to spread. */
  out(verdict: BackendOut): void;
  /** The admission queue's messages to the primary; absent: no queue (a lone in-process worker). */
  queue?(message: QueueWorkerMessage): boolean;
}

/** What a request's exchange asks of the admission queue (see QueueClient and the primary's SlotGranter). */
export interface WorkerAdmission {
  /** It must wait: others already do (so none overtakes), or every backend it may use is saturated. */
  mustWait(facts: RoutingFacts): boolean;
  enter(info: QueueEntryInfo, listener: QueueListener): number;
  leave(request: number, reason: QueueLeaveReason): void;
  /** The granted request went out: the primary gets this worker's load with it counted. */
  sent(request: number): void;
  /** The backend a grant names, while it is in the fleet. */
  backend(url: string): Backend | null;
}

/**
 * A worker's part of the fleet: its BackendSet kept in step with the primary's FleetState, its load
 * report to the primary (and the others' load back), its retry budget, and /healthz's backend list.
 */
export class WorkerFleet implements FailoverContext {
  readonly backends: BackendSet;
  /** Null with --queue off, or without a primary to hold the queue. */
  readonly admission: WorkerAdmission | null;
  readonly #queue: QueueClient | null;
  readonly budget = new RetryBudget();
  readonly retries: number;
  readonly unrouted: BackendRecorder;
  readonly #panic: Record<PanicScope, DeferredCount>;
  readonly #link: WorkerFleetLink;
  readonly #workerId: number;
  /** Set while a load report is due: one goes out LOAD_REPORT_MS after a change, none while nothing changes. */
  #reportTimer: NodeJS.Timeout | null = null;
  #closed = false;
  #state: FleetState;
  #lastReport = '';

  constructor(
    config: Config,
    metrics: WorkerMetrics,
    recorder: RequestRecorder,
    workerId: number,
    initial: FleetState,
    link: WorkerFleetLink,
  ) {
    this.retries = config.retries;
    this.unrouted = recorder.unrouted;
    this.#link = link;
    this.#workerId = workerId;
    // Both scopes from the start at 0: two series for the whole proxy, and an alert rate()s each.
    const panic = {} as Record<PanicScope, DeferredCount>;
    for (const scope of PANIC_SCOPES) {
      const child = metrics.backendPanic.labels(scope);
      child.inc(0);
      panic[scope] = new DeferredCount(child);
    }
    this.#panic = panic;
    const affinity = affinityCounts(metrics, config);
    this.backends = new BackendSet(config, recorder, {
      out: (verdict) => link.out(verdict),
      // Near its bound, or while requests wait, the primary learns of each send and each end at once: its
      // queue hands out that room.
      loadChanged: (backend) => {
        if (this.#queue?.queued === true || this.backends.isNearlyFull(backend)) this.#reportNow();
        else this.#scheduleReport();
      },
      affinity: (result) => affinity?.[result].add(),
    });
    this.#state = initial;
    this.backends.apply(initial);
    const queueLink = link.queue;
    this.#queue = config.queue && queueLink !== undefined ? new QueueClient((message) => queueLink(message), config.queueTimeoutMs) : null;
    this.admission = this.#queue === null ? null : this.#admission(this.#queue);
    metrics.beforeRead(() => {
      for (const scope of PANIC_SCOPES) this.#panic[scope].flush();
      if (affinity !== null) for (const result of AFFINITY_RESULTS) affinity[result].flush();
      for (const backend of this.backends.all) metrics.backendInFlight.labels(backend.url).set(backend.inFlight);
    });
  }

  /** The primary's queue answers and the engines' readings. */
  onQueueMessage(message: QueuePrimaryMessage): void {
    if (message.type === 'iproxy:engines') this.backends.setEngines(message.entries);
    else this.#queue?.onMessage(message);
  }

  onPanic(scope: PanicScope): void {
    this.#panic[scope].add();
  }

  apply(state: FleetState): void {
    this.#state = state;
    this.backends.apply(state);
  }

  /** New last checks of some backends (/healthz); nothing that selection reads changed. */
  applyChecks(checks: CheckRecords): void {
    const byUrl = new Map(checks);
    const backends = this.#state.backends.map((backend) => {
      const lastCheck = byUrl.get(backend.url);
      return lastCheck === undefined ? backend : { ...backend, lastCheck };
    });
    this.#state = { ...this.#state, backends };
  }

  /** The other workers' loads, as the primary merged them (this worker's own entry is left out: its counts are exact here). */
  onLoads(loads: ReadonlyArray<readonly [number, LoadReport]>): void {
    const others = new Map<string, BackendLoad>();
    for (const [workerId, load] of loads) {
      if (workerId === this.#workerId) continue;
      for (const url in load) {
        const [inFlight, prefilling] = load[url] as BackendLoad;
        const sum = others.get(url);
        if (sum === undefined) others.set(url, [inFlight, prefilling]);
        else {
          sum[0] += inFlight;
          sum[1] += prefilling;
        }
      }
    }
    this.backends.setOthersLoad(others);
  }

  /** /healthz as this worker sees it: each backend's state as this worker holds it (the primary's view merged with its own verdicts). */
  health(): { anyUp: boolean; backends: BackendHealth[] } {
    const byUrl = new Map(this.backends.all.map((backend) => [backend.url, backend]));
    return fleetHealth(
      this.#state.backends,
      (url) => byUrl.get(url)?.ownLoad() ?? 0,
      (entry) => byUrl.get(entry.url)?.state ?? entry.health,
    );
  }

  close(): Promise<void> {
    this.#closed = true;
    if (this.#reportTimer !== null) clearTimeout(this.#reportTimer);
    this.#reportTimer = null;
    return this.backends.close();
  }

  #reportNow(): void {
    if (this.#closed) return;
    if (this.#reportTimer !== null) clearTimeout(this.#reportTimer);
    this.#reportTimer = null;
    this.#report();
  }

  #scheduleReport(): void {
    if (this.#reportTimer !== null || this.#closed) return;
    this.#reportTimer = setTimeout(() => {
      this.#reportTimer = null;
      this.#report();
    }, LOAD_REPORT_MS);
    this.#reportTimer.unref();
  }

  #report(): void {
    const { load, text } = this.#load();
    if (text === this.#lastReport) return;
    this.#lastReport = text;
    this.#link.reportLoad(load);
  }

  #load(): { load: LoadReport; text: string } {
    const load: LoadReport = {};
    let text = '';
    for (const backend of this.backends.all) {
      load[backend.url] = [backend.inFlight, backend.prefilling];
      text += `${backend.inFlight}/${backend.prefilling},`;
    }
    return { load, text };
  }

  #admission(queue: QueueClient): WorkerAdmission {
    return {
      mustWait: (facts) => queue.queued || this.backends.saturatedFor(facts),
      enter: (info, listener) => queue.enter(info, listener),
      leave: (request, reason) => queue.leave(request, reason),
      sent: (request) => {
        // This load goes with the grant's end, so the primary never counts the request twice or not at all.
        const { load, text } = this.#load();
        this.#lastReport = text;
        queue.sent(request, load);
      },
      backend: (url) => this.backends.get(url),
    };
  }
}
