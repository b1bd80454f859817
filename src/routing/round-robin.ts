import type { Selector } from './selector.js';
import { SmoothWeighted } from './smooth-weighted.js';

/** --routing round-robin: smooth weighted round-robin over the candidates, per worker. */
export function createRoundRobin(): Selector {
  const order = new SmoothWeighted();
  return { select: (candidates, _facts, nowMs) => order.pick(candidates, nowMs) };
}
