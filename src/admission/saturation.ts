/**
 * When a backend is saturated (GIE's saturation detector, with the proxy's own exact counts in it): its
 * engine's queue would grow past --saturation-waiting, its KV use is at --saturation-kv or more, or its
 * requests in progress have reached its configured max_concurrency. Pure functions over what is known of
 * one backend: the requests this proxy instance has in progress on it, exact, and the engine's last
 * reading (up to one --load-interval old; the caller drops a reading older than three).
 *
 * Between two readings the engine's counts are carried forward with the proxy's own changes: the engine
 * had `waiting + running` requests when `ownAtReading` of them were this instance's; the others
 * (other instances, clients calling it directly) are taken to stay, and each request of ours that started
 * since is one more there. While requests wait, every slot is busy, so each of ours that started since
 * waits, and each that ended let a waiting one in. Once the engine has been seen with a queue, the number
 * it was running then is its capacity (vLLM does not export --max-num-seqs): the fleet's load on it against
 * that says how many wait. Never seen full, it is taken to have room until a reading says otherwise.
 */
export interface EngineView {
  readonly waiting: number;
  readonly running: number;
  /** Share of KV cache in use, 0 to 1; null when the engine does not tell. */
  readonly kvUsage: number | null;
  /** This instance's requests in progress on the backend when the reading was taken. */
  readonly ownAtReading: number;
  /** The most requests it has been seen running while others waited; null until it has had a queue. */
  readonly capacity: number | null;
  /**
   * False once the last reading went stale: the counts are then zeros (ignored: only this instance's own
   * exact counts remain) and only the learned capacity is kept, so that an engine that stops answering its
   * /metrics under load is not flooded (GIE counts a stale engine as saturated; this keeps it bounded).
   */
  readonly fresh: boolean;
}

export interface SaturationLimits {
  /** The engine queue a backend may have; one more request would make it longer: saturated. 0: only free slots. */
  readonly waiting: number;
  /** KV use (0 to 1) from which a backend is saturated. */
  readonly kv: number;
}

/** The engine's requests that are not this instance's, as of the reading: other instances' and other clients'. */
export function externalLoad(view: EngineView | null): number {
  return view === null ? 0 : Math.max(0, view.waiting + view.running - view.ownAtReading);
}

/** Requests in progress on the backend over the whole fleet: this instance's own, and the engine's others. */
export function fleetLoad(own: number, view: EngineView | null): number {
  return own + externalLoad(view);
}

/** Requests the engine has waiting now, by the reading carried forward with this instance's changes since. */
export function estimatedWaiting(own: number, view: EngineView): number {
  if (view.capacity !== null) return Math.max(0, fleetLoad(own, view) - view.capacity);
  return view.waiting > 0 ? Math.max(0, view.waiting + own - view.ownAtReading) : 0;
}

/**
 * How many more requests the backend can take now before it is saturated (0: saturated);
 * Infinity when nothing bounds it. `maxConcurrency`: the backend's configured bound, or null.
 */
export function roomOn(own: number, view: EngineView | null, maxConcurrency: number | null, limits: SaturationLimits): number {
  let room = maxConcurrency === null ? Number.POSITIVE_INFINITY : Math.max(0, maxConcurrency - fleetLoad(own, view));
  if (view === null || room === 0) return room;
  if (view.kvUsage !== null && view.kvUsage >= limits.kv) return 0;
  // Known capacity: the fleet's load on it against its slots and the queue it may have. Unknown (never seen
  // with a queue): only a queue in the reading bounds it.
  if (view.capacity !== null) room = Math.min(room, view.capacity + limits.waiting - fleetLoad(own, view));
  else if (view.waiting > 0) room = Math.min(room, limits.waiting - (view.waiting + own - view.ownAtReading));
  return Math.max(0, room);
}

export function isSaturated(own: number, view: EngineView | null, maxConcurrency: number | null, limits: SaturationLimits): boolean {
  return roomOn(own, view, maxConcurrency, limits) === 0;
}

/** The capacity a new reading teaches: the running count of a reading with a queue, never less than before. */
export function learnedCapacity(previous: number | null, waiting: number, running: number): number | null {
  if (waiting <= 0) return previous;
  return previous === null ? running : Math.max(previous, running);
}
