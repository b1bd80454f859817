import type { Level } from 'pino';
import type { TenantKey } from '../tenants/tenant-types.js';

/** One configured backend. `url` is the label value used in every metric. */
export interface BackendConfig {
  readonly url: string;
  readonly origin: string;
  /** Path prefix of the backend URL without a trailing slash ('' when none). */
  readonly basePath: string;
  /** Relative share of traffic (1 to 1000). */
  readonly weight: number;
  /** The models it serves as configured; null: read from its GET /v1/models. */
  readonly models: readonly string[] | null;
  /** Most requests in progress on it over the whole fleet (`max_concurrency`); null: no bound. */
  readonly maxConcurrency: number | null;
}

/**
 * What the affinity load bound counts: requests in progress and requests still waiting for their first
 * byte, a home being over it only when it is over on both (the default); or either one alone. The routing
 * benchmark compares the three (bench/README.md, "routing"); a hidden flag, for it.
 */
export const AFFINITY_BOUNDS = ['both', 'in-flight', 'prefill'] as const;
export type AffinityBound = (typeof AFFINITY_BOUNDS)[number];

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
  /** The selection policy: the name of one of src/routing/policies/ (policy-registry.ts). */
  readonly routing: string;
  readonly healthPath: string;
  /** 0: no active health checks. */
  readonly healthIntervalMs: number;
  readonly healthTimeoutMs: number;
  readonly unhealthyThreshold: number;
  readonly healthyThreshold: number;
  /** 0: live traffic never takes a backend out. */
  readonly maxFails: number;
  readonly failTimeoutMs: number;
  readonly slowStartMs: number;
  readonly retries: number;
  /** 0: models are never read (backends without a configured list are eligible for every model). */
  readonly discoveryIntervalMs: number;
  /** What a request for a model no backend serves gets: a 404, or any backend. */
  readonly unknownModel: 'reject' | 'pass';
  /** Add Server-Timing (proxy and upstream durations) to every proxied response. */
  readonly serverTiming: boolean;
  /** Hold a stream's head until its first event, so that failover covers a backend failing in prefill. */
  readonly holdStreamHead: boolean;
  /** The config file's named keys (tenants), with their models and limits; their keys are only digests. */
  readonly keys: readonly TenantKey[];
  /** Problems worth a warning in the keys (a key in clear), logged by the primary. */
  readonly keyWarnings: readonly string[];
  /** Tokens reserved for the answer of a completion without max_tokens. */
  readonly defaultMaxTokens: number;
  /** Forward the engines' admin routes for every key (else only for keys with admin: true). */
  readonly allowAdminRoutes: boolean;
  /** Null: the limits are this instance's own. */
  readonly redisUrl: string | null;
  readonly redisTimeoutMs: number;
  readonly redisFailure: 'open' | 'closed';
  /** --routing session: the request header that names the session (lower case). */
  readonly sessionHeader: string;
  /** Affinity routing: a home backend takes a request while its load is at most this many times the mean. */
  readonly affinityLoadFactor: number;
  /** --routing prefix: how many bytes of the prompt's start make the key. */
  readonly prefixBytes: number;
  /** Time between two reads of each backend's /metrics while there is traffic; 0: engines are not read. */
  readonly loadIntervalMs: number;
  /** Saturated when the engine queue would grow past this many. */
  readonly saturationWaiting: number;
  /** Saturated from this KV cache use (0 to 1). */
  readonly saturationKv: number;
  /** Requests whose backends are all saturated wait in the proxy (true) or are sent on (false). */
  readonly queue: boolean;
  readonly queueTimeoutMs: number;
  /** Pass the priority class on as vLLM's `priority` request field. */
  readonly enginePriority: boolean;
  /** 0: host names are left to the connection's own lookup. */
  readonly dnsRefreshMs: number;
  /** host:port of the DNS server for --dns-refresh; null: the system's. */
  readonly dnsServer: string | null;
  /** How long a backend gone from the fleet keeps its counters in /metrics. */
  readonly removedSeriesGraceMs: number;
  /** Affinity routing: what the load bound counts (hidden, for the benchmark). */
  readonly affinityBound: AffinityBound;
  /** How often the primary samples the dashboard's history (hidden, for tests). */
  readonly dashboardSampleMs: number;
}
