import type { PriorityClass } from '../admission/priority-class.js';
import type { QueuePrimaryMessage, QueueWorkerMessage } from '../admission/queue-messages.js';
import type { QueueLeaveReason } from '../admission/slot-granter.js';
import type { KeyHash } from '../routing/key-hash.js';
import type { LoadReport } from '../shared/ipc.js';

/** What the queue needs to know of a request to order it. */
export interface QueueEntryInfo {
  readonly priority: PriorityClass;
  readonly key: string;
  readonly weight: number;
  readonly model: string | null;
  readonly routingKey: KeyHash | null;
}

/** The request waiting in the queue: told once, either way. */
export interface QueueListener {
  /** It may go, to this backend. */
  queueGranted(url: string): void;
  /** It waited --queue-timeout. */
  queueExpired(): void;
}

/** Beyond the primary's own --queue-timeout, how long a worker waits for its answer before giving up by itself. */
const PRIMARY_ANSWER_MARGIN_MS = 5_000;

/**
 * A worker's side of the admission queue: the primary holds the one queue of the instance; this sends it
 * the requests that must wait and hands its grants and expiries to them. Every wait is bounded here too,
 * in case the primary never answers.
 */
export class QueueClient {
  readonly #send: (message: QueueWorkerMessage) => boolean;
  readonly #safetyMs: number;
  readonly #waiting = new Map<number, { listener: QueueListener; timer: NodeJS.Timeout }>();
  #nextId = 0;
  /** Requests wait in the primary's queue: new ones queue too, whatever this worker sees. */
  queued = false;

  constructor(send: (message: QueueWorkerMessage) => boolean, queueTimeoutMs: number) {
    this.#send = send;
    this.#safetyMs = queueTimeoutMs + PRIMARY_ANSWER_MARGIN_MS;
  }

  get waiting(): number {
    return this.#waiting.size;
  }

  /** Queues a request; returns its ticket. */
  enter(info: QueueEntryInfo, listener: QueueListener): number {
    const request = ++this.#nextId;
    const timer = setTimeout(() => {
      if (!this.#waiting.delete(request)) return;
      this.#send({ type: 'iproxy:queue-leave', request, reason: 'timeout' });
      listener.queueExpired();
    }, this.#safetyMs);
    timer.unref();
    this.#waiting.set(request, { listener, timer });
    const sent = this.#send({ type: 'iproxy:queue-enter', request, ...info });
    // No primary to queue with (the channel is closing): the request cannot wait for a grant.
    if (!sent) setImmediate(() => this.#settle(request)?.queueExpired());
    return request;
  }

  /** The request leaves without being sent: its client left, or the worker stops. */
  leave(request: number, reason: QueueLeaveReason): void {
    this.#settle(request);
    this.#send({ type: 'iproxy:queue-leave', request, reason });
  }

  /** A granted request went out; `load` counts it. */
  sent(request: number, load: LoadReport): void {
    this.#send({ type: 'iproxy:queue-sent', request, load });
  }

  onMessage(message: QueuePrimaryMessage): void {
    switch (message.type) {
      case 'iproxy:queue-grant': {
        const listener = this.#settle(message.request);
        // Its client left as the grant crossed: give it back.
        if (listener === null) this.#send({ type: 'iproxy:queue-leave', request: message.request, reason: 'client_gone' });
        else listener.queueGranted(message.url);
        break;
      }
      case 'iproxy:queue-expired':
        this.#settle(message.request)?.queueExpired();
        break;
      case 'iproxy:queue-state':
        this.queued = message.queued;
        break;
    }
  }

  #settle(request: number): QueueListener | null {
    const waiting = this.#waiting.get(request);
    if (waiting === undefined) return null;
    this.#waiting.delete(request);
    clearTimeout(waiting.timer);
    return waiting.listener;
  }
}
