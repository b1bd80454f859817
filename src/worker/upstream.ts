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

export function createUpstream(backend: BackendConfig, index: number, config: Config): Upstream {
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
