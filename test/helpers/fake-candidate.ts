import type { Candidate } from '../../src/routing/selector.js';

/** A backend as a routing policy sees it, with loads and a weight the test sets. */
export class FakeCandidate implements Candidate {
  readonly url: string;
  inFlight = 0;
  prefilling = 0;
  weight: number;
  constructor(url: string, weight = 1) {
    this.url = url;
    this.weight = weight;
  }
  load(): number {
    return this.inFlight;
  }
  prefillLoad(): number {
    return this.prefilling;
  }
  effectiveWeight(): number {
    return this.weight;
  }
}
