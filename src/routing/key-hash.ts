/**
 * A 64-bit hash of a routing key, as two 32-bit halves (no BigInt on the request path): MurmurHash3's
 * 32-bit body and finaliser, run with two seeds. Stable across processes and machines, so every worker
 * and every proxy instance maps a key to the same backend.
 */
export interface KeyHash {
  readonly hi: number;
  readonly lo: number;
}

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;
const SEED_HI = 0x9747b28c;
const SEED_LO = 0x5bd1e995;

export function hashBytes(bytes: Uint8Array): KeyHash {
  return { hi: murmur32(bytes, SEED_HI), lo: murmur32(bytes, SEED_LO) };
}

const encoder = new TextEncoder();

export function hashText(text: string): KeyHash {
  return hashBytes(encoder.encode(text));
}

/** MurmurHash3's finaliser: every input bit affects every output bit. */
export function mix32(value: number): number {
  let h = value;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** MurmurHash3 x86 32-bit of `bytes` with `seed`. */
export function murmur32(bytes: Uint8Array, seed: number): number {
  let h = seed;
  const whole = bytes.length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = (bytes[i] as number) | ((bytes[i + 1] as number) << 8) | ((bytes[i + 2] as number) << 16) | ((bytes[i + 3] as number) << 24);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = bytes.length & 3;
  if (tail > 0) {
    let k = 0;
    for (let i = tail - 1; i >= 0; i--) k = (k << 8) | (bytes[whole + i] as number);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
  }
  return mix32(h ^ bytes.length);
}
