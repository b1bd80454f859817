import { hashText, type KeyHash, mix32 } from './key-hash.js';

const TWO_POW_32 = 4_294_967_296;
const urlHashes = new Map<string, KeyHash>();
const MAX_CACHED_URLS = 10_000;

/** A backend URL's hash, computed once per URL. */
function urlHash(url: string): KeyHash {
  let hash = urlHashes.get(url);
  if (hash === undefined) {
    // URLs come from the fleet (configured, or resolved by DNS): a bound only guards against churn.
    if (urlHashes.size >= MAX_CACHED_URLS) urlHashes.clear();
    hash = hashText(url);
    urlHashes.set(url, hash);
  }
  return hash;
}

/**
 * Weighted rendezvous (highest random weight) hashing: the key's score on a backend depends only on the
 * key, the backend's URL and its weight, so the ranking of backends for a key does not depend on their
 * order, on which worker or proxy instance asks, or on the other backends. A backend that leaves takes only
 * the keys it ranked first for (about 1/N) elsewhere, each to its own second choice; one that joins takes
 * about 1/N of them. Weights: -w / ln(u) with u uniform in (0, 1) gives each backend a share of keys
 * proportional to its weight.
 */
export function rendezvousScore(key: KeyHash, url: string, weight: number): number {
  const u = urlHash(url);
  const mixed = mix32(mix32(key.hi ^ u.hi) ^ key.lo ^ u.lo);
  const uniform = (mixed + 0.5) / TWO_POW_32;
  return -weight / Math.log(uniform);
}
