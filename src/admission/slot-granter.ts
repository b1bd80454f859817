import { AdmissionQueue, type QueueEntry } from './admission-queue.js';
import type { PriorityClass } from './priority-class.js';
import { type EngineView, fleetLoad, roomOn, type SaturationLimits } from './saturation.js';

/** Why a request left the queue without a backend (queue_rejected_total{reason}). */
const QUEUE_LEAVE_REASONS = ['timeout', 'client_gone', 'shutdown'] as const;
export type QueueLeaveReason = (typeof QUEUE_LEAVE_REASONS)[number];

/** A queued request as the primary knows it: which worker holds it, and what routing needs. */
export interface QueuedRequest {
  readonly worker: number;
  /** The worker's id for it. */
  readonly request: number;
  /** The model it names; null: any backend. */
  readonly model: string | null;
}

/** What the granter needs to know about the backends and to tell the workers. */
export interface GranterLink {
  /** The backends that may take a request for `model` now (up, serving it; every one of them in panic mode). */
  candidates(model: string | null): readonly string[];
  /** This instance's requests in progress on the backend, as the workers reported them. */
  own(url: string): number;
  /** The backend's engine, as last read; null without a fresh reading. */
  view(url: string): EngineView | null;
  /** Its configured max_concurrency; null when none. */
  maxConcurrency(url: string): number | null;
  /** Of the backends with room, the one for this request (the routing policy's choice). */
  choose(request: QueuedRequest, withRoom: readonly string[]): string;
  /** The request may go to `url`. */
  grant(request: QueuedRequest, url: string): void;
  /** The request waited --queue-timeout: its worker answers 429. */
  expired(request: QueuedRequest): void;
}

/** What happened to queued requests, for the queue metrics. */
export interface GranterRecorder {
  /** It left the queue after `waitedMs`: granted (reason null) or not. */
  left(priority: PriorityClass, waitedMs: number, reason: QueueLeaveReason | null): void;
}

/**
 * The primary's side of the admission queue, one per instance: the workers send it the requests that find
 * every backend they may go to saturated, and it grants them backends as room appears, in the queue's
 * order (priority class, then fair share), whichever worker holds them: the one place that sees every
 * queued request is the one place that can keep their order. A grant counts on its backend as pending
 * until the worker reports the request sent (its load report then holds it) or gives the grant back.
 */
export class SlotGranter {
  readonly #link: GranterLink;
  readonly #recorder: GranterRecorder;
  #limits: SaturationLimits;
  #timeoutMs: number;
  readonly #queue = new AdmissionQueue<QueuedRequest>();
  /** Queue entry id by worker and the worker's request id. */
  readonly #ids = new Map<string, number>();
  /** Grants not yet reported sent: their backend, by worker and request. */
  readonly #pending = new Map<string, string>();
  readonly #pendingByUrl = new Map<string, number>();
  #nextId = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(link: GranterLink, recorder: GranterRecorder, limits: SaturationLimits, timeoutMs: number) {
    this.#link = link;
    this.#recorder = recorder;
    this.#limits = limits;
    this.#timeoutMs = timeoutMs;
  }

  get size(): number {
    return this.#queue.size;
  }

  /** New saturation limits and queue timeout (a reload), for the requests queued already too. */
  reconfigure(limits: SaturationLimits, timeoutMs: number): void {
    this.#limits = limits;
    this.#timeoutMs = timeoutMs;
    this.#arm();
  }

  depth(priority: PriorityClass): number {
    return this.#queue.depth(priority);
  }

  /** Requests in progress on the backend in this instance: reported, and granted but not reported yet. */
  load(url: string): number {
    return this.#link.own(url) + (this.#pendingByUrl.get(url) ?? 0);
  }

  /** How many more the backend can take before it is saturated. */
  room(url: string): number {
    return roomOn(this.load(url), this.#link.view(url), this.#link.maxConcurrency(url), this.#limits);
  }

  enqueue(request: QueuedRequest, priority: PriorityClass, key: string, weight: number, nowMs = Date.now()): void {
    const name = nameOf(request.worker, request.request);
    if (this.#ids.has(name)) return;
    const id = ++this.#nextId;
    this.#ids.set(name, id);
    this.#queue.enqueue({ id, priority, key, enqueuedMs: nowMs, item: request }, weight);
    this.#arm();
  }

  /** The worker's request left: its client went away (still queued, or granted and not sent), or it stopped. */
  leave(worker: number, request: number, reason: QueueLeaveReason, nowMs = Date.now()): void {
    const name = nameOf(worker, request);
    this.#unpend(name);
    const id = this.#ids.get(name);
    if (id === undefined) return;
    this.#ids.delete(name);
    const entry = this.#queue.remove(id);
    if (entry !== null) this.#recorder.left(entry.priority, nowMs - entry.enqueuedMs, reason);
  }

  /** The worker sent a granted request: its load report now counts it. */
  sent(worker: number, request: number): void {
    this.#unpend(nameOf(worker, request));
  }

  /** A worker is gone: its requests with it. */
  workerGone(worker: number, nowMs = Date.now()): void {
    const prefix = `${worker}:`;
    for (const name of [...this.#pending.keys()]) if (name.startsWith(prefix)) this.#unpend(name);
    for (const [name, id] of [...this.#ids]) {
      if (!name.startsWith(prefix)) continue;
      this.#ids.delete(name);
      const entry = this.#queue.remove(id);
      if (entry !== null) this.#recorder.left(entry.priority, nowMs - entry.enqueuedMs, 'shutdown');
    }
  }

  /** Grants backends to queued requests, in the queue's order, while some backend a request may use has room. */
  pump(nowMs = Date.now()): void {
    // The backends with room for each request looked at; the policy chooses only for the one next() picks.
    const withRoom = new Map<number, string[]>();
    const canServe = (entry: QueueEntry<QueuedRequest>): boolean => {
      const urls = this.#link.candidates(entry.item.model).filter((url) => this.room(url) > 0);
      withRoom.set(entry.id, urls);
      return urls.length > 0;
    };
    for (;;) {
      withRoom.clear();
      const entry = this.#queue.next(canServe);
      if (entry === null) break;
      const urls = withRoom.get(entry.id) as string[];
      const url = urls.length === 1 ? (urls[0] as string) : this.#link.choose(entry.item, urls);
      const name = nameOf(entry.item.worker, entry.item.request);
      this.#ids.delete(name);
      this.#pending.set(name, url);
      this.#pendingByUrl.set(url, (this.#pendingByUrl.get(url) ?? 0) + 1);
      this.#recorder.left(entry.priority, nowMs - entry.enqueuedMs, null);
      this.#link.grant(entry.item, url);
    }
    this.#arm();
  }

  /** The fleet's load as the routing policy sees it: this instance's own (granted included) and the engine's others. */
  fleetLoad(url: string): number {
    return fleetLoad(this.load(url), this.#link.view(url));
  }

  close(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #unpend(name: string): void {
    const url = this.#pending.get(name);
    if (url === undefined) return;
    this.#pending.delete(name);
    const left = (this.#pendingByUrl.get(url) ?? 1) - 1;
    if (left > 0) this.#pendingByUrl.set(url, left);
    else this.#pendingByUrl.delete(url);
  }

  /** One timer, for the oldest request's deadline. */
  #arm(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const oldest = this.#queue.oldest();
    if (oldest === null) return;
    const dueMs = Math.max(0, oldest.enqueuedMs + this.#timeoutMs - Date.now());
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#expire();
    }, dueMs);
    this.#timer.unref();
  }

  #expire(nowMs = Date.now()): void {
    for (const entry of this.#queue.expire(nowMs - this.#timeoutMs)) {
      this.#ids.delete(nameOf(entry.item.worker, entry.item.request));
      this.#recorder.left(entry.priority, nowMs - entry.enqueuedMs, 'timeout');
      this.#link.expired(entry.item);
    }
    this.#arm();
  }
}

function nameOf(worker: number, request: number): string {
  return `${worker}:${request}`;
}
