import type { KeyHash } from '../routing/key-hash.js';
import type { LoadReport } from '../shared/ipc.js';
import type { PriorityClass } from './priority-class.js';
import type { EngineView } from './saturation.js';
import type { QueueLeaveReason } from './slot-granter.js';

/** A worker's side of the admission queue, to the primary. `request` is the worker's own id for the request. */
export type QueueWorkerMessage =
  /** Every backend the request may use is saturated (or others already wait): queue it. */
  | {
      type: 'iproxy:queue-enter';
      request: number;
      priority: PriorityClass;
      /** The tenant its fair share counts against; '' without a named key. */
      key: string;
      weight: number;
      model: string | null;
      /** Its affinity key (--routing session or prefix), so that a grant goes to its home when that has room. */
      routingKey: KeyHash | null;
    }
  /** It left the queue (or gave a grant back) without being sent. */
  | { type: 'iproxy:queue-leave'; request: number; reason: QueueLeaveReason }
  /** A granted request went out; `load` is this worker's load report with it counted. */
  | { type: 'iproxy:queue-sent'; request: number; load: LoadReport };

/** The primary's side, to the workers. */
export type QueuePrimaryMessage =
  | { type: 'iproxy:queue-grant'; request: number; url: string }
  | { type: 'iproxy:queue-expired'; request: number }
  /** Whether anything waits in the queue: while it does, every worker queues its new requests too, so none overtakes. */
  | { type: 'iproxy:queue-state'; queued: boolean }
  /** Engine readings that changed, by backend URL (null: no fresh reading any more). */
  | { type: 'iproxy:engines'; entries: Array<readonly [string, EngineView | null]> };
