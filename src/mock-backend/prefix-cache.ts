import { createHash } from 'node:crypto';

/** Bytes of prompt text per cache block: the unit of the simulated KV cache (vLLM's blocks hold 16 tokens). */
export const PREFIX_BLOCK_BYTES = 256;

/** Blocks a prompt of `bytes` bytes takes, the last one possibly partial. */
export function blockCount(bytes: number): number {
  return Math.ceil(bytes / PREFIX_BLOCK_BYTES);
}

/**
 * Hashes of the prompt's full blocks. Each covers its bytes and the hash before it, as in vLLM's prefix
 * caching, so one block's hash stands for the whole prompt up to its end. `seed` (the model) starts the
 * chain: two models never share a KV cache. A partial last block is never cached, as in vLLM.
 */
export function blockHashes(prompt: Buffer, seed: string): string[] {
  const hashes: string[] = [];
  let previous = Buffer.from(seed);
  for (let end = PREFIX_BLOCK_BYTES; end <= prompt.length; end += PREFIX_BLOCK_BYTES) {
    previous = createHash('sha256')
      .update(previous)
      .update(prompt.subarray(end - PREFIX_BLOCK_BYTES, end))
      .digest();
    hashes.push(previous.toString('base64'));
  }
  return hashes;
}

/** A least-recently-used set of block hashes holding at most `capacityBlocks`. */
export class PrefixCache {
  // A Map iterates in insertion order: deleting and re-adding a key makes it the most recent.
  readonly #blocks = new Map<string, true>();
  readonly #capacity: number;

  constructor(capacityBlocks: number) {
    this.#capacity = capacityBlocks;
  }

  get size(): number {
    return this.#blocks.size;
  }

  /** Leading blocks held: a block counts only if every block before it does. Looking does not touch. */
  cachedPrefix(hashes: readonly string[]): number {
    let cached = 0;
    while (cached < hashes.length && this.#blocks.has(hashes[cached] as string)) cached++;
    return cached;
  }

  /**
   * After a prefill every block of the prompt becomes most recent, the first block most of all: vLLM frees
   * a finished request's blocks tail first, so a shared prefix outlives the tails that hang off it.
   */
  store(hashes: readonly string[]): void {
    for (let i = hashes.length - 1; i >= 0; i--) {
      const hash = hashes[i] as string;
      this.#blocks.delete(hash);
      this.#blocks.set(hash, true);
    }
    for (const oldest of this.#blocks.keys()) {
      if (this.#blocks.size <= this.#capacity) break;
      this.#blocks.delete(oldest);
    }
  }
}
