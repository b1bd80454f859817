import type { Candidate } from './selector.js';

/**
 * Smooth weighted round-robin (nginx's upstream algorithm): every pick adds each candidate's weight to its
 * running score, takes the highest, and takes the total off the winner. Weights 5:1:1 give a b a c a a a,
 * not a a a a a b c. The candidate list may change between picks (backends down, tried, added); scores
 * are kept by URL, and those of backends no longer seen are dropped once the map grows past its bound.
 */
export class SmoothWeighted {
  readonly #scores = new Map<string, number>();
  #bound = 64;

  pick<C extends Candidate>(candidates: readonly C[], nowMs: number): C {
    let best = candidates[0] as C;
    let bestScore = Number.NEGATIVE_INFINITY;
    let total = 0;
    for (const candidate of candidates) {
      const weight = candidate.effectiveWeight(nowMs);
      total += weight;
      const score = (this.#scores.get(candidate.url) ?? 0) + weight;
      this.#scores.set(candidate.url, score);
      if (score > bestScore) {
        best = candidate;
        bestScore = score;
      }
    }
    this.#scores.set(best.url, bestScore - total);
    if (this.#scores.size > this.#bound) this.#forgetAllBut(candidates);
    return best;
  }

  #forgetAllBut(candidates: readonly Candidate[]): void {
    const keep = new Set(candidates.map((candidate) => candidate.url));
    for (const url of this.#scores.keys()) if (!keep.has(url)) this.#scores.delete(url);
    this.#bound = Math.max(64, 2 * this.#scores.size);
  }
}
