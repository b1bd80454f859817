const BUCKET_MS = 0.01;
const BUCKETS = 200_000; // 10 µs buckets up to 2 s; slower values are kept exactly

/**
 * Fixed-resolution latency histogram: O(1) per value, no allocation while streams run. It records the
 * stream client's raw samples at 10 µs resolution, so its quantiles are exact to a bucket; it is not a
 * Prometheus histogram (a quantile over a proxy's /metrics buckets is histogramQuantile in src/metrics/prom-text.ts).
 */
export class LatencyHistogram {
  readonly #buckets = new Uint32Array(BUCKETS);
  readonly #overflow: number[] = [];
  #count = 0;

  get count(): number {
    return this.#count;
  }

  record(ms: number, times = 1): void {
    this.#count += times;
    const bucket = Math.floor(ms / BUCKET_MS);
    if (bucket < BUCKETS) {
      this.#buckets[Math.max(0, bucket)]! += times;
      return;
    }
    for (let i = 0; i < times; i++) this.#overflow.push(ms);
  }

  /** The value at quantile q (0..1), in ms (the middle of its 10 µs bucket); null when empty. */
  quantile(q: number): number | null {
    if (this.#count === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.#count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#buckets[i]!;
      if (seen >= rank) return (i + 0.5) * BUCKET_MS;
    }
    const sorted = [...this.#overflow].sort((a, b) => a - b);
    return sorted[rank - seen - 1] ?? sorted[sorted.length - 1] ?? null;
  }
}
