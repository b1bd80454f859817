import { createAffinity } from '../affinity.js';
import type { RoutingPolicy } from '../selector.js';

/** Affinity by session: a conversation keeps its backend, whose prefix cache holds its history. */
export const policy: RoutingPolicy = {
  name: 'session',
  summary: "affinity: a session keeps its backend, the key being --session-header or else the body's user field",
  key: 'session',
  exactShares: false,
  create: (options) => createAffinity(options.loadFactor, options.record, options.bound),
};
