import { PRIORITY_CLASSES, type PriorityClass } from './priority-class.js';

/** One request waiting for a backend to have room. */
export interface QueueEntry<T> {
  readonly id: number;
  readonly priority: PriorityClass;
  /** The tenant whose fair share it counts against ('' for requests without a named key). */
  readonly key: string;
  readonly enqueuedMs: number;
  readonly item: T;
}

/** One key's requests in a class, first come first served, and where its share stands. */
interface Flow<T> {
  readonly key: string;
  weight: number;
  readonly entries: Map<number, QueueEntry<T>>;
  /** The virtual finish time of its last request served. */
  lastFinish: number;
  /** The virtual finish time of its first request, set when that request became first. */
  headFinish: number;
}

interface ClassQueue<T> {
  readonly flows: Map<string, Flow<T>>;
  /** Virtual time: the finish time of the last request served in the class. */
  virtual: number;
  size: number;
}

/**
 * The proxy's admission queue: strict priority between classes (interactive, then standard, then batch),
 * and weighted fair queuing between the keys of a class. Each key's requests wait first come first
 * served; the key whose first request has the earliest virtual finish time goes next, that time being
 * where the key's share stood (the later of the class's virtual time and the finish of the key's last
 * request served) plus 1 / weight (self-clocked fair queuing, Golestani 1994). Only a key's first request
 * is timed: a request that leaves the queue unserved (its client left, or it waited too long) hands its
 * time to the next of its key, so it uses up nothing of the key's share and a key flooding the queue with
 * requests that time out still gets its share of the ones served; a key coming back after a quiet spell
 * starts from the present, with no credit saved up. Pure: no timers, no I/O; the caller says what time it is and what can be served.
 */
export class AdmissionQueue<T> {
  readonly #classes = new Map<PriorityClass, ClassQueue<T>>(
    PRIORITY_CLASSES.map((priority) => [priority, { flows: new Map(), virtual: 0, size: 0 }]),
  );
  /** Every entry by id, oldest first (ids are given in arrival order). */
  readonly #byId = new Map<number, QueueEntry<T>>();

  get size(): number {
    return this.#byId.size;
  }

  depth(priority: PriorityClass): number {
    return (this.#classes.get(priority) as ClassQueue<T>).size;
  }

  /** The oldest entry, whose deadline comes first; null when empty. */
  oldest(): QueueEntry<T> | null {
    for (const entry of this.#byId.values()) return entry;
    return null;
  }

  /** Adds a request; ids must grow with arrival. `weight` > 0: the key's share against the others of its class. */
  enqueue(entry: QueueEntry<T>, weight: number): void {
    const queue = this.#classes.get(entry.priority) as ClassQueue<T>;
    let flow = queue.flows.get(entry.key);
    if (flow === undefined) {
      flow = { key: entry.key, weight, entries: new Map(), lastFinish: 0, headFinish: 0 };
      queue.flows.set(entry.key, flow);
    }
    flow.weight = weight;
    flow.entries.set(entry.id, entry);
    if (flow.entries.size === 1) flow.headFinish = Math.max(queue.virtual, flow.lastFinish) + 1 / weight;
    queue.size++;
    this.#byId.set(entry.id, entry);
  }

  /** Takes a request out without serving it (its client left, it timed out); null when it is not queued. */
  remove(id: number): QueueEntry<T> | null {
    const entry = this.#byId.get(id);
    if (entry === undefined) return null;
    const queue = this.#classes.get(entry.priority) as ClassQueue<T>;
    const flow = queue.flows.get(entry.key) as Flow<T>;
    this.#take(queue, flow, entry, false);
    return entry;
  }

  /**
   * The next request to send, taken out of the queue: the highest class first, then the key with the
   * earliest virtual finish among those whose first request `canServe` accepts (a request for a model
   * whose backends are all saturated waits, and does not hold back the others). Null when none can go.
   */
  next(canServe: (entry: QueueEntry<T>) => boolean): QueueEntry<T> | null {
    for (const priority of PRIORITY_CLASSES) {
      const queue = this.#classes.get(priority) as ClassQueue<T>;
      if (queue.size === 0) continue;
      let best: Flow<T> | null = null;
      let bestHead: QueueEntry<T> | null = null;
      let bestFinish = Number.POSITIVE_INFINITY;
      for (const flow of queue.flows.values()) {
        const head = first(flow.entries);
        if (head === null || !canServe(head)) continue;
        const finish = flow.headFinish;
        // Equal finish times: the request that came first.
        if (finish < bestFinish || (finish === bestFinish && bestHead !== null && head.id < bestHead.id)) {
          best = flow;
          bestHead = head;
          bestFinish = finish;
        }
      }
      if (best === null || bestHead === null) continue;
      queue.virtual = bestFinish;
      best.lastFinish = bestFinish;
      this.#take(queue, best, bestHead, true);
      return bestHead;
    }
    return null;
  }

  /** Takes out every request that arrived at or before `cutoffMs`, oldest first. */
  expire(cutoffMs: number): QueueEntry<T>[] {
    const out: QueueEntry<T>[] = [];
    for (const entry of this.#byId.values()) {
      if (entry.enqueuedMs > cutoffMs) break;
      out.push(entry);
    }
    for (const entry of out) this.remove(entry.id);
    return out;
  }

  /** `served`: it goes to a backend (its key's share moves on); else it left, and the next of its key takes its place. */
  #take(queue: ClassQueue<T>, flow: Flow<T>, entry: QueueEntry<T>, served: boolean): void {
    flow.entries.delete(entry.id);
    queue.size--;
    this.#byId.delete(entry.id);
    if (served && flow.entries.size > 0) flow.headFinish = Math.max(queue.virtual, flow.lastFinish) + 1 / flow.weight;
    // A key with nothing queued keeps no state once the class has moved past its share: it starts from
    // the present when it comes back, and the map does not grow with every key ever seen.
    if (flow.entries.size === 0 && flow.lastFinish <= queue.virtual) queue.flows.delete(flow.key);
  }
}

function first<T>(entries: Map<number, QueueEntry<T>>): QueueEntry<T> | null {
  for (const entry of entries.values()) return entry;
  return null;
}
