import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

const BEARER = /^Bearer[ ]+(\S+)\s*$/i;

/**
 * Checks `Authorization: Bearer <key>` against the configured keys. Keys are compared as SHA-256 digests
 * with timingSafeEqual: equal lengths by construction, and the time taken does not depend on how much of a
 * key matched. Returns null when no keys are configured (auth off).
 */
export function createApiKeyCheck(digestsHex: readonly string[]): ((headers: IncomingHttpHeaders) => boolean) | null {
  if (digestsHex.length === 0) return null;
  const digests = digestsHex.map((hex) => Buffer.from(hex, 'hex'));
  return (headers) => {
    const match = BEARER.exec(headers.authorization ?? '');
    if (match === null) return false;
    const presented = createHash('sha256')
      .update(match[1] as string)
      .digest();
    let ok = false;
    // Every key is compared, so the time does not reveal which one (if any) matched.
    for (const digest of digests) ok = timingSafeEqual(presented, digest) || ok;
    return ok;
  };
}
