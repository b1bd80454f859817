import { ROUTING_POLICIES } from '../routing/policy-registry.js';
import * as d from './defaults.js';

/**
 * Flag declarations only: every value is read as a string and validated by buildConfig(),
 * so a bad value gets one line naming the flag instead of yargs' coercion surprises.
 */
export const FLAGS = {
  'backend-url': {
    type: 'string',
    default: d.DEFAULT_BACKEND_URL,
    describe: 'URL of an OpenAI-compatible backend (http or https; a path becomes a prefix); repeat it or give a comma-separated list',
  },
  config: {
    type: 'string',
    describe: 'YAML or JSON file (by extension) with any flag by name and a backends: list; SIGHUP re-reads it',
  },
  routing: {
    type: 'string',
    default: d.DEFAULT_ROUTING,
    describe: `Backend selection: ${ROUTING_POLICIES.map((policy) => `${policy.name} (${policy.summary})`).join('; ')}`,
  },
  'session-header': {
    type: 'string',
    default: d.DEFAULT_SESSION_HEADER,
    describe: "Routing keyed by session: the header that names a session (else the body's user field)",
  },
  'affinity-load-factor': {
    type: 'string',
    default: String(d.DEFAULT_AFFINITY_LOAD_FACTOR),
    describe: 'Keyed routing (affinity): a home backend above this many times the mean load sends the request to the next one',
  },
  'prefix-bytes': {
    type: 'string',
    default: String(d.DEFAULT_PREFIX_BYTES),
    describe: "Routing keyed by prompt prefix: how many bytes of the prompt's start are the key (at most 2048)",
  },
  'health-path': { type: 'string', default: d.DEFAULT_HEALTH_PATH, describe: 'Path of the active health check (GET, 2xx is healthy)' },
  'health-interval': {
    type: 'string',
    default: String(d.DEFAULT_HEALTH_INTERVAL_MS),
    describe: 'Time between two active health checks of a backend, ms (0: no active checks)',
  },
  'health-timeout': {
    type: 'string',
    default: String(d.DEFAULT_HEALTH_TIMEOUT_MS),
    describe: 'Time a health check may take, ms',
  },
  'unhealthy-threshold': {
    type: 'string',
    default: String(d.DEFAULT_UNHEALTHY_THRESHOLD),
    describe: 'Consecutive failed health checks that mark a backend down',
  },
  'healthy-threshold': {
    type: 'string',
    default: String(d.DEFAULT_HEALTHY_THRESHOLD),
    describe: 'Consecutive passed health checks that mark a backend up again',
  },
  'max-fails': {
    type: 'string',
    default: String(d.DEFAULT_MAX_FAILS),
    describe: 'Consecutive failures of live traffic (refused, reset, timeout, 502/503/504) that take a backend out at once (0: never)',
  },
  'fail-timeout': {
    type: 'string',
    default: String(d.DEFAULT_FAIL_TIMEOUT_MS),
    describe: 'How long --max-fails takes a backend out, ms (doubled for a repeat within a minute, at most 60 s)',
  },
  'slow-start': {
    type: 'string',
    default: String(d.DEFAULT_SLOW_START_MS),
    describe: 'A backend coming back ramps up its share of traffic over this long, ms (0: at once)',
  },
  retries: {
    type: 'string',
    default: String(d.DEFAULT_RETRIES),
    describe: 'Extra attempts on other backends while nothing reached the client (connect errors, 502/503/504, 429)',
  },
  'discovery-interval': {
    type: 'string',
    default: String(d.DEFAULT_DISCOVERY_INTERVAL_MS),
    describe: "Time between two reads of each backend's GET /v1/models, ms (0: never read; every backend is eligible for every model)",
  },
  'unknown-model': {
    type: 'string',
    default: 'reject',
    describe: 'A model no backend serves: reject (404 model_not_found) or pass (send it to any backend, for servers that take any name)',
  },
  'dns-refresh': {
    type: 'string',
    default: '0',
    describe: 'Resolve backend host names to one backend per address, again at this interval, ms (0: off)',
  },
  'dns-server': { type: 'string', describe: 'DNS server for --dns-refresh (host:port); the system resolver when unset' },
  host: { type: 'string', default: d.DEFAULT_HOST, describe: 'Address to listen on' },
  port: { type: 'string', default: String(d.DEFAULT_PORT), describe: 'Port to listen on (0 picks a free port)' },
  workers: {
    type: 'string',
    default: 'auto',
    describe: 'Worker processes; auto: one per CPU this process may use (container CPU quota included)',
  },
  'cluster-scheduling': {
    type: 'string',
    default: 'none',
    describe: 'none: workers accept connections themselves; rr: the primary deals them out round-robin (see README)',
  },
  'strip-prefix': { type: 'string', default: d.DEFAULT_STRIP_PREFIX, describe: "Path prefix removed before forwarding ('' turns it off)" },
  'log-level': { type: 'string', default: d.DEFAULT_LOG_LEVEL, describe: 'fatal, error, warn, info, debug, trace or silent' },
  'access-log': { type: 'string', default: 'on', describe: 'One JSON line per request: on or off' },
  'inject-usage': {
    type: 'string',
    default: 'on',
    describe: 'Ask streamed completions for usage (stream_options.include_usage) and hide that chunk from clients that did not: on or off',
  },
  'server-timing': {
    type: 'string',
    default: 'off',
    describe: 'Add Server-Timing: proxy;dur=…, upstream;dur=… (ms) to proxied responses: on or off',
  },
  'hold-stream-head': {
    type: 'string',
    default: 'on',
    describe: "Hold a stream's response head until its first event, so a backend that fails in prefill is retried elsewhere: on or off",
  },
  'upstream-connections': {
    type: 'string',
    default: String(d.DEFAULT_UPSTREAM_CONNECTIONS),
    describe: 'Most open connections per worker to each backend',
  },
  'connect-timeout': {
    type: 'string',
    default: String(d.DEFAULT_CONNECT_TIMEOUT_MS),
    describe: 'Time to open a backend connection, ms (or 10s)',
  },
  'headers-timeout': {
    type: 'string',
    default: String(d.DEFAULT_HEADERS_TIMEOUT_MS),
    describe: 'Time to the backend response headers, ms (0: none); a non-streamed completion sends them only when done',
  },
  'body-timeout': {
    type: 'string',
    default: String(d.DEFAULT_BODY_TIMEOUT_MS),
    describe: 'Idle time between two backend body chunks, ms (0: none)',
  },
  'body-limit': {
    type: 'string',
    default: String(d.DEFAULT_BODY_LIMIT_BYTES),
    describe: 'Largest request body the completion endpoints read, bytes (or 512kb, 32mb)',
  },
  'drain-timeout': {
    type: 'string',
    default: String(d.DEFAULT_DRAIN_TIMEOUT_MS),
    describe: 'On stop or reload, time given to in-flight requests to finish, ms',
  },
  'keep-alive-timeout': {
    type: 'string',
    default: String(d.DEFAULT_KEEP_ALIVE_TIMEOUT_MS),
    describe: 'Idle time before a client keep-alive connection is closed, ms',
  },
  'max-in-flight': {
    type: 'string',
    default: '0',
    describe:
      'Most requests in progress over all workers; more get 503 with Retry-After (0: 4096 per worker, or 2 x --upstream-connections if more)',
  },
  'client-header-timeout': {
    type: 'string',
    default: String(d.DEFAULT_CLIENT_HEADER_TIMEOUT_MS),
    describe: 'Time a client gets to send its request headers, ms; slower clients get 408 (slowloris)',
  },
  'api-key': { type: 'string', describe: 'Require Authorization: Bearer <key> on proxied routes; repeat for several keys' },
  'api-key-file': { type: 'string', describe: 'File with one API key per line (blank lines and # comments ignored)' },
  'allow-admin-routes': {
    type: 'string',
    default: 'off',
    describe:
      "Forward the engines' admin routes (/sleep, /update_weights_from_disk, ... see README) for every key: on or off (off: only keys with admin: true)",
  },
  'default-max-tokens': {
    type: 'string',
    default: String(d.DEFAULT_MAX_TOKENS_RESERVED),
    describe: "Tokens a completion without max_tokens reserves against its key's tpm and budget until its real usage is known",
  },
  'redis-url': {
    type: 'string',
    describe: "redis:// or rediss:// URL: the keys' limits are shared by every instance using it (unset: each instance alone)",
  },
  'redis-timeout': {
    type: 'string',
    default: String(d.DEFAULT_REDIS_TIMEOUT_MS),
    describe: 'Longest wait for Redis on a rate-limit decision, ms; past it --redis-failure decides',
  },
  'redis-failure': {
    type: 'string',
    default: 'open',
    describe: 'Redis down or slow: open (each instance enforces the limits alone) or closed (503 for requests that need Redis)',
  },
  'metrics-port': { type: 'string', describe: 'Also serve /metrics and /healthz from the primary on this port (off by default)' },
  'metrics-host': { type: 'string', default: d.DEFAULT_METRICS_HOST, describe: 'Address for --metrics-port' },
  'removed-series-grace': {
    type: 'string',
    default: String(d.DEFAULT_REMOVED_SERIES_GRACE_MS),
    describe:
      'How long a backend gone from the fleet (reload, DNS) keeps its counters in /metrics, ms (or 5m), so that a scrape sees their last values',
  },
  // Hidden: for the routing benchmark and the tests, not for operators (--help and the README leave them out).
  'affinity-bound': { type: 'string', default: 'both', hidden: true, describe: 'Affinity load bound: both, in-flight or prefill' },
  'dashboard-sample-interval': {
    type: 'string',
    default: String(d.DEFAULT_DASHBOARD_SAMPLE_MS),
    hidden: true,
    describe: "Interval of the primary's dashboard history samples, ms",
  },
} as const;

export type FlagName = keyof typeof FLAGS;
