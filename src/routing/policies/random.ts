import type { Candidate, RoutingPolicy, Selector } from '../selector.js';

export const policy: RoutingPolicy = {
  name: 'random',
  summary: 'a random pick, in proportion to weight',
  key: null,
  exactShares: false,
  create: () => createRandom(),
};

/** Each candidate with probability proportional to its weight. */
function createRandom(random: () => number = Math.random): Selector {
  return {
    select<C extends Candidate>(candidates: readonly C[], _facts: unknown, nowMs: number): C {
      let total = 0;
      for (const candidate of candidates) total += candidate.effectiveWeight(nowMs);
      let point = random() * total;
      for (const candidate of candidates) {
        point -= candidate.effectiveWeight(nowMs);
        if (point < 0) return candidate;
      }
      return candidates[candidates.length - 1] as C;
    },
  };
}
