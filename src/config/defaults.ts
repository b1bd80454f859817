// Every default is named with its unit. LLM generation can take minutes, so the upstream
// timeouts are sized for that rather than for ordinary web traffic.
export const DEFAULT_BACKEND_URL = 'http://localhost:8000';
export const DEFAULT_HOST = '0.0.0.0';
export const DEFAULT_PORT = 8001;
export const DEFAULT_STRIP_PREFIX = '/inference';
export const DEFAULT_LOG_LEVEL = 'info';
/**
 * Per worker and backend. An LLM stream holds its connection for its whole generation, mostly idle: with 256,
 * 1,024 streams through 2 workers left half of them waiting in the pool's queue for a stream to end (their
 * time to first token in seconds, some not finished in time; issue 18), where nginx and a plain undici proxy
 * with a larger pool served them at once. 1,024 is also Envoy's default bound on a cluster's connections.
 */
export const DEFAULT_UPSTREAM_CONNECTIONS = 1_024;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** A non-streamed completion sends its headers only when generation ends. */
export const DEFAULT_HEADERS_TIMEOUT_MS = 600_000;
/** Idle time between two body chunks; a long prefill after the headers is silent. */
export const DEFAULT_BODY_TIMEOUT_MS = 300_000;
export const DEFAULT_BODY_LIMIT_BYTES = 32 * 1024 * 1024;
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;
/** Longer than the 60 s idle timeout of common load balancers, so they never reuse a closed socket. */
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 65_000;
/** Node's own default: a client that takes longer to send its headers gets 408 (slowloris). */
export const DEFAULT_CLIENT_HEADER_TIMEOUT_MS = 60_000;
/**
 * With --max-in-flight 0, each worker admits this many requests at once (or twice --upstream-connections,
 * if that is more). Sized for LLM streams (issue 18): a stream holds its slot for its whole generation and
 * is idle between tokens, so a worker runs out of CPU long before 4,096 of them (at 20 ms per token they
 * are 200k writes a second); the count bounds memory (about 57 MB per 1,000 open streams) against a flood
 * of slow clients. Twice an upstream pool of 256 (512) shed streams a healthy proxy could carry.
 */
export const AUTO_IN_FLIGHT_PER_WORKER = 4_096;
/** …at least this many times --upstream-connections, so that a large pool is never starved by the count. */
export const AUTO_IN_FLIGHT_PER_CONNECTION = 2;
export const DEFAULT_METRICS_HOST = '127.0.0.1';
export const ENV_PREFIX = 'INFERENCE_PROXY';
/** Workers read their frozen config from this variable; they never parse argv. */
export const WORKER_CONFIG_ENV = 'NODE_INFERENCE_PROXY_WORKER_CONFIG';
/** The cluster state a worker starts with (workers alive, primary start time), before the first broadcast. */
export const WORKER_STATE_ENV = 'NODE_INFERENCE_PROXY_WORKER_STATE';
/** Selection policy when --routing is not given. */
export const DEFAULT_ROUTING = 'least-load';
/** vLLM, SGLang, TGI and llama.cpp server all answer GET /health. */
export const DEFAULT_HEALTH_PATH = '/health';
export const DEFAULT_HEALTH_INTERVAL_MS = 5_000;
export const DEFAULT_HEALTH_TIMEOUT_MS = 2_000;
export const DEFAULT_UNHEALTHY_THRESHOLD = 2;
export const DEFAULT_HEALTHY_THRESHOLD = 2;
/** Consecutive failures seen by live traffic that take a backend out at once. */
export const DEFAULT_MAX_FAILS = 3;
export const DEFAULT_FAIL_TIMEOUT_MS = 5_000;
/** A backend coming back ramps its share of traffic up over this long. */
export const DEFAULT_SLOW_START_MS = 10_000;
/** Extra attempts on other backends, before any byte reached the client. */
export const DEFAULT_RETRIES = 2;
export const DEFAULT_DISCOVERY_INTERVAL_MS = 30_000;
export const DEFAULT_SESSION_HEADER = 'x-session-id';
/** Chosen from the routing benchmark (bench/README.md, "routing"). */
export const DEFAULT_AFFINITY_LOAD_FACTOR = 1.5;
/** Chosen from the routing benchmark: inside a typical system prompt, at most 2 KiB. */
export const DEFAULT_PREFIX_BYTES = 1024;
/** A backend gone from the fleet (reload, DNS) keeps its counters this long, so that a scrape sees their last values. */
export const DEFAULT_REMOVED_SERIES_GRACE_MS = 5 * 60_000;
/** The primary samples the merged metrics for the dashboard's history this often. */
export const DEFAULT_DASHBOARD_SAMPLE_MS = 10_000;
/** A shared rate-limit decision never waits longer for Redis than this. */
export const DEFAULT_REDIS_TIMEOUT_MS = 50;
/** Tokens a completion without max_tokens reserves for its answer (settled to the real usage when it ends). */
export const DEFAULT_MAX_TOKENS_RESERVED = 1024;
/**
 * Time between two reads of each backend's /metrics (its engine's queue, batch and KV use) while there is traffic.
 * Measured with the saturation bench (docs/admission.md): two instances overshoot the engines' queues less at 250 ms
 * than at 50 or 100 (each reading's race with requests on their way resets the carried-forward estimate), and
 * it costs the primary 0.1% of a core per backend.
 */
export const DEFAULT_LOAD_INTERVAL_MS = 250;
/** The Gateway API Inference Extension's saturation defaults: an engine queue of 5, KV use of 0.8. */
export const DEFAULT_SATURATION_WAITING = 5;
export const DEFAULT_SATURATION_KV = 0.8;
/** How long a request may wait in the proxy's queue for a backend with room, then 429. */
export const DEFAULT_QUEUE_TIMEOUT_MS = 30_000;
