import type { Level } from 'pino';

/** One configured backend. `url` is the label value used in every metric. */
export interface BackendConfig {
  readonly url: string;
  readonly origin: string;
  /** Path prefix of the backend URL without a trailing slash ('' when none). */
  readonly basePath: string;
}

/** The whole validated configuration: built once in the primary, frozen, handed to workers as JSON. */
export interface Config {
  readonly backends: readonly BackendConfig[];
  readonly host: string;
  readonly port: number;
  readonly workers: number;
  /** How connections reach workers: the kernel (none) or the primary round-robin (rr). */
  readonly clusterScheduling: 'none' | 'rr';
  readonly stripPrefix: string;
  readonly logLevel: Level | 'silent';
  readonly accessLog: boolean;
  /** Add stream_options.include_usage to streamed completions that did not ask, for exact token counts. */
  readonly injectUsage: boolean;
  readonly upstreamConnections: number;
  readonly connectTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  readonly bodyLimitBytes: number;
  readonly drainTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  /** Most requests in progress in one worker (--max-in-flight divided over the workers). */
  readonly maxInFlightPerWorker: number;
  readonly clientHeaderTimeoutMs: number;
  /** SHA-256 digests (hex) of the accepted API keys; the keys themselves never leave the primary. Empty: no auth. */
  readonly apiKeyDigests: readonly string[];
  readonly metricsPort: number | null;
  readonly metricsHost: string;
}
