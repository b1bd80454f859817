import { PrefillSlots } from './prefill-slots.js';
import { blockCount, blockHashes, PrefixCache } from './prefix-cache.js';

/**
 * The simulated prefix cache and prefill queue (issue 12 point 5). Off unless given; with it, time to
 * first token = wait for a prefill slot + baseMs + msPerBlock × uncached blocks (+ the usual ttftMs).
 */
export interface PrefixCacheOptions {
  /** Capacity of each backend's cache, in blocks of PREFIX_BLOCK_BYTES of prompt text; 0 caches nothing. */
  readonly cacheBlocks: number;
  /** Prefill time of a prompt whose every block is cached, ms. */
  readonly baseMs?: number;
  /** Prefill time added per block not cached, ms. */
  readonly msPerBlock?: number;
  /** Requests in prefill at once; the rest wait in arrival order. Absent or 0: no limit. */
  readonly slots?: number;
}

/**
 * Counters of the cache and the queue. The cache counts prompt blocks, not tokens as vLLM does: every block
 * of a prompt (a partial last one included) is a query, every block found cached a hit.
 */
export interface PrefixCacheStats {
  queries: number;
  hits: number;
  /** Requests waiting for a prefill slot now. */
  waiting: number;
  /** Requests in prefill now. */
  running: number;
  /** Blocks held in the cache now. */
  cachedBlocks: number;
}

export function emptyPrefixCacheStats(): PrefixCacheStats {
  return { queries: 0, hits: 0, waiting: 0, running: 0, cachedBlocks: 0 };
}

/** One backend's prefill: a slot, the cache lookup when the slot is granted, the prefill time, the cache update. */
export class PrefillStage {
  readonly #cache: PrefixCache;
  readonly #slots: PrefillSlots;
  readonly #baseMs: number;
  readonly #msPerBlock: number;
  readonly #stats: PrefixCacheStats;

  constructor(options: PrefixCacheOptions, stats: PrefixCacheStats) {
    this.#cache = new PrefixCache(options.cacheBlocks);
    this.#slots = new PrefillSlots(options.slots || Number.POSITIVE_INFINITY);
    this.#baseMs = options.baseMs ?? 0;
    this.#msPerBlock = options.msPerBlock ?? 0;
    this.#stats = stats;
  }

  /**
   * Prefills `prompt` (for model `seed`) and then calls `prefilled`; the returned function gives up at
   * any point (client gone, backend closing) and frees what the request held.
   */
  run(prompt: Buffer, seed: string, prefilled: () => void): () => void {
    let timer: NodeJS.Timeout | undefined;
    let state: 'waiting' | 'running' | 'done' = 'waiting';
    const stats = this.#stats;
    const finish = (): void => {
      state = 'done';
      stats.running--;
      this.#slots.release();
      stats.waiting = this.#slots.waiting;
    };
    const withdraw = this.#slots.acquire(() => {
      state = 'running';
      stats.running++;
      stats.waiting = this.#slots.waiting;
      // Looked up when the slot is granted, as a scheduler does: a request that waited behind another with
      // the same prefix finds it cached.
      const hashes = blockHashes(prompt, seed);
      const blocks = blockCount(prompt.length);
      const hits = this.#cache.cachedPrefix(hashes);
      stats.queries += blocks;
      stats.hits += hits;
      timer = setTimeout(
        () => {
          this.#cache.store(hashes);
          stats.cachedBlocks = this.#cache.size;
          finish();
          prefilled();
        },
        this.#baseMs + this.#msPerBlock * (blocks - hits),
      );
    });
    stats.waiting = this.#slots.waiting;
    return () => {
      if (state === 'waiting') {
        withdraw();
        state = 'done';
        stats.waiting = this.#slots.waiting;
      } else if (state === 'running') {
        clearTimeout(timer);
        finish();
      }
    };
  }
}
