import { Client, Pool } from 'undici';
import type { BackendConfig, Config } from '../config/types.js';

/** Below vLLM's 5 s uvicorn keep-alive, so we close an idle socket before the backend does. */
const UPSTREAM_KEEP_ALIVE_TIMEOUT_MS = 4_000;

export interface Upstream {
  readonly index: number;
  readonly backend: BackendConfig;
  /** The Host header sent to the backend. */
  readonly host: string;
  readonly pool: Pool;
  /** A new connection of its own, for a retry that must not land on another stale pooled socket. */
  oneOff(): Client;
}

/** The seam where several backends with load balancing and health checks will slot in: one Pool per backend, one select(). */
export interface UpstreamSet {
  select(): Upstream;
  readonly all: readonly Upstream[];
  close(): Promise<void>;
}

export function createUpstreamPool(backend: BackendConfig, index: number, config: Config): Upstream {
  const options = {
    pipelining: 1,
    keepAliveTimeout: UPSTREAM_KEEP_ALIVE_TIMEOUT_MS,
    headersTimeout: config.headersTimeoutMs,
    bodyTimeout: config.bodyTimeoutMs,
    connect: { timeout: config.connectTimeoutMs },
  };
  const pool = new Pool(backend.origin, { ...options, connections: config.upstreamConnections });
  return { index, backend, host: new URL(backend.origin).host, pool, oneOff: () => new Client(backend.origin, options) };
}

export function createUpstreamSet(config: Config): UpstreamSet {
  const all = config.backends.map((backend, i) => createUpstreamPool(backend, i, config));
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
