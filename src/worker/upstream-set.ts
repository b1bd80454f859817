import type { Config } from '../config/types.js';
import { createUpstream, type Upstream } from './upstream.js';

/** The seam where several backends with load balancing and health checks will slot in: one Pool per backend, one select(). */
export interface UpstreamSet {
  select(): Upstream;
  readonly all: readonly Upstream[];
  close(): Promise<void>;
}

export function createUpstreamSet(config: Config): UpstreamSet {
  const all = config.backends.map((backend, i) => createUpstream(backend, i, config));
  const only = all[0] as Upstream;
  return {
    all,
    // One backend today; selection policies (least busy, health) replace this body, not its callers.
    select: () => only,
    async close() {
      await Promise.all(all.map((upstream) => upstream.pool.close()));
    },
  };
}
