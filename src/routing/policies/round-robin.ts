import type { RoutingPolicy, Selector } from '../selector.js';
import { SmoothWeighted } from '../smooth-weighted.js';

export const policy: RoutingPolicy = {
  name: 'round-robin',
  summary: 'smooth weighted round-robin, in each worker',
  key: null,
  exactShares: true,
  create: () => createRoundRobin(),
};

/** Smooth weighted round-robin over the candidates, per worker. */
function createRoundRobin(): Selector {
  const order = new SmoothWeighted();
  return { select: (candidates, _facts, nowMs) => order.pick(candidates, nowMs) };
}
