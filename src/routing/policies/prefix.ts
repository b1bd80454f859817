import { createAffinity } from '../affinity.js';
import type { RoutingPolicy } from '../selector.js';

/** Affinity by prompt prefix: requests sharing a system prompt share a backend, whose prefix cache holds it. */
export const policy: RoutingPolicy = {
  name: 'prefix',
  summary: 'affinity: requests whose prompts start alike share a backend, the key being the first --prefix-bytes',
  key: 'prefix',
  exactShares: false,
  create: (options) => createAffinity(options.loadFactor, options.record, options.bound),
};
