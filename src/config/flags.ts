import { ROUTING_POLICIES } from '../routing/policy-registry.js';
import * as d from './defaults.js';

/**
 * Flag declarations only: every value is read as a string and validated by buildConfig(),
 * so a bad value gets one line naming the flag instead of yargs' coercion surprises.
 * `describe` is the flag's --help text, with `code` in backticks that --help leaves out; the flag table of
 * docs/configuration.md is generated from these declarations (`npm run docs`), adding `docs` (markdown:
 * links, the reasons behind a default) after it and showing the default in its `unit` (ms or bytes). A test
 * fails when that table and --help disagree.
 */
export const FLAGS = {
  'backend-url': {
    type: 'string',
    default: d.DEFAULT_BACKEND_URL,
    describe:
      'URL of an OpenAI-compatible backend (http or https); repeat the flag or give a comma-separated list for a fleet. A path in the URL (`http://gpu1:8000/base`) is prefixed to every path forwarded to it; a URL given twice exits 2',
  },
  config: {
    type: 'string',
    describe:
      'YAML (`.yaml`, `.yml`) or JSON (`.json`) file with any flag by its name as a key and a `backends:` list; SIGHUP re-reads it. With a file the backends must come from it or from `--backend-url`: a file that names none exits 2 at start and is refused on reload (the default backend applies only without a file)',
    docs: 'See [the config file](#the-config-file-and-reload) and [Routing](routing.md#many-backends).',
  },
  routing: {
    type: 'string',
    default: d.DEFAULT_ROUTING,
    describe: `Backend selection: ${ROUTING_POLICIES.map((policy) => `${policy.name} (${policy.summary})`).join('; ')}`,
    docs: 'See [Routing](routing.md).',
  },
  'session-header': {
    type: 'string',
    default: d.DEFAULT_SESSION_HEADER,
    describe: "Routing keyed by session: the request header that names the session; without it, the body's `user` field",
  },
  'affinity-load-factor': {
    type: 'string',
    default: String(d.DEFAULT_AFFINITY_LOAD_FACTOR),
    describe:
      "Keyed routing: a key's home backend takes the request unless it is above this many times its share of the load (in requests in progress and in requests waiting for their first byte); then the next backend in the key's order does. Larger keeps caches warmer and balances less",
  },
  'prefix-bytes': {
    type: 'string',
    default: String(d.DEFAULT_PREFIX_BYTES),
    describe: "Routing keyed by prompt prefix: how many bytes of the prompt's start are the key (16 to 2048)",
  },
  'health-path': {
    type: 'string',
    default: d.DEFAULT_HEALTH_PATH,
    describe: 'Active health check: `GET <backend><path>`, healthy on a 2xx (vLLM, SGLang, TGI and llama.cpp server all serve `/health`)',
  },
  'health-interval': {
    type: 'string',
    default: String(d.DEFAULT_HEALTH_INTERVAL_MS),
    unit: 'ms',
    describe:
      "Time between two active health checks of each backend, ms (`0`: no active checks; every backend counts as up, and live traffic's failures still take them out)",
  },
  'health-timeout': {
    type: 'string',
    default: String(d.DEFAULT_HEALTH_TIMEOUT_MS),
    unit: 'ms',
    describe: 'Time a health check may take, ms',
  },
  'unhealthy-threshold': {
    type: 'string',
    default: String(d.DEFAULT_UNHEALTHY_THRESHOLD),
    describe: 'Consecutive failed health checks that mark a backend down (1 to 100)',
  },
  'healthy-threshold': {
    type: 'string',
    default: String(d.DEFAULT_HEALTHY_THRESHOLD),
    describe: 'Consecutive passed health checks that mark a backend up again (1 to 100)',
  },
  'max-fails': {
    type: 'string',
    default: String(d.DEFAULT_MAX_FAILS),
    describe:
      'Consecutive failures of live traffic (refused, reset or timed out, or a 502/503/504 head) that take a backend out at once (`0`: never)',
  },
  'fail-timeout': {
    type: 'string',
    default: String(d.DEFAULT_FAIL_TIMEOUT_MS),
    unit: 'ms',
    describe:
      "How long `--max-fails` takes a backend out, ms; a repeat within a minute of the last one's end doubles it, at most 60 s. After that the active checks decide",
  },
  'slow-start': {
    type: 'string',
    default: String(d.DEFAULT_SLOW_START_MS),
    unit: 'ms',
    describe:
      'A backend coming back (or added at runtime) ramps its share of traffic from a tenth of its weight to all of it over this long, ms (`0`: at once)',
  },
  retries: {
    type: 'string',
    default: String(d.DEFAULT_RETRIES),
    describe: 'Extra attempts on other backends while nothing has reached the client (connect errors, 502/503/504, 429), 0 to 10',
    docs: 'See [Routing](routing.md#failover).',
  },
  'discovery-interval': {
    type: 'string',
    default: String(d.DEFAULT_DISCOVERY_INTERVAL_MS),
    unit: 'ms',
    describe: "Time between two reads of each backend's `GET /v1/models`, ms (`0`: never read; every backend is eligible for every model)",
  },
  'unknown-model': {
    type: 'string',
    default: 'reject',
    describe:
      "A request for a model no backend lists: `reject` (404 `model_not_found`, no backend contacted) or `pass` (send it to any backend, for servers that take any model name, such as llama.cpp's)",
  },
  'load-interval': {
    type: 'string',
    default: String(d.DEFAULT_LOAD_INTERVAL_MS),
    unit: 'ms',
    describe:
      "Time between two reads of each backend's own `GET /metrics` (its engine's queue, running batch and KV use) while the proxy has traffic, ms; while nothing is in progress it reads at `--health-interval` (not at all when that is `0`). A reading older than three intervals is ignored (`0`: never read)",
    docs: 'See [Engine signals and the admission queue](admission.md), and [why 250 ms](admission.md#why---load-interval-is-250-ms).',
  },
  'saturation-waiting': {
    type: 'string',
    default: String(d.DEFAULT_SATURATION_WAITING),
    describe:
      "A backend is saturated when its engine queue would grow past this many (the Gateway API Inference Extension's threshold); `0`: only while it has a free slot, so that no request waits inside an engine",
  },
  'saturation-kv': {
    type: 'string',
    default: String(d.DEFAULT_SATURATION_KV),
    describe: "A backend is saturated from this share of its engine's KV cache in use (above 0, at most 1)",
  },
  queue: {
    type: 'string',
    default: 'on',
    describe:
      '`on`: a request whose backends are all saturated waits in the proxy, by priority class and fair share between keys; `off`: it is sent on (to the least saturated)',
    docs: 'See [the queue](admission.md#the-queue).',
  },
  'queue-timeout': {
    type: 'string',
    default: String(d.DEFAULT_QUEUE_TIMEOUT_MS),
    unit: 'ms',
    describe: 'Longest wait in the queue, ms (or `30s`); then 429 `queue_timeout` with `Retry-After: 1`',
  },
  'engine-priority': {
    type: 'string',
    default: 'off',
    describe:
      "`on` passes each completion's priority class on as vLLM's `priority` field (`interactive` -1, `standard` 0 (not written), `batch` 1), for engines run with `--scheduling-policy priority`; an engine without it refuses any value but 0 with 400, hence `off` by default",
  },
  'dns-refresh': {
    type: 'string',
    default: '0',
    unit: 'ms',
    describe:
      "Resolve each backend's host name to all its addresses, one backend per address, again at this interval, ms (`0`: off). The Kubernetes headless-Service pattern",
  },
  'dns-server': {
    type: 'string',
    describe:
      'DNS server for `--dns-refresh`: an IP address with an optional port (`10.0.0.10`, `10.0.0.10:53`, `[fd00::a]:53`); the system resolver when unset; a host name exits 2',
  },
  host: { type: 'string', default: d.DEFAULT_HOST, describe: 'Address to listen on' },
  port: {
    type: 'string',
    default: String(d.DEFAULT_PORT),
    describe: 'Port to listen on (`0` picks a free one; the `proxy ready` log line says which)',
  },
  workers: {
    type: 'string',
    default: 'auto',
    describe:
      "Worker processes, sharing the port; `auto`: one per CPU this process may use (`os.availableParallelism()`, capped by the container's cgroup CPU quota, which Node 20 itself ignores)",
  },
  'cluster-scheduling': {
    type: 'string',
    default: 'none',
    describe:
      "How client connections reach the workers. `none`: each worker accepts from the shared socket itself (the kernel spreads them); `rr`: the primary accepts them and deals them out round-robin (Node's default, a little more even)",
    docs: 'The default is `none` because with `rr` a connection being handed to a worker at the moment that worker is killed stays open and unanswered in the primary until the client gives up (a node:cluster limitation); with `none` it is reset at once and the client can retry.',
  },
  'strip-prefix': {
    type: 'string',
    default: d.DEFAULT_STRIP_PREFIX,
    describe: "Prefix removed from every path under it before forwarding (`''` turns it off)",
  },
  'log-level': { type: 'string', default: d.DEFAULT_LOG_LEVEL, describe: '`fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`' },
  'access-log': { type: 'string', default: 'on', describe: 'One JSON line per request: `on` or `off`' },
  'inject-usage': {
    type: 'string',
    default: 'on',
    describe:
      'Ask streamed completions for token usage (`stream_options.include_usage`) when the client did not, and hide that chunk from it: `on` or `off` (`off` for backends that reject `stream_options`)',
    docs: 'See [Metrics](metrics.md).',
  },
  'server-timing': {
    type: 'string',
    default: 'off',
    describe:
      "Add `Server-Timing: proxy;dur=<ms>, upstream;dur=<ms>` to every proxied response, the proxy's own time and the time from the upstream request written to the upstream response head: `on` or `off`. Off by default: it tells clients how long your backends take",
  },
  'hold-stream-head': {
    type: 'string',
    default: 'on',
    describe:
      "Hold a streamed response's head (status and headers) until its first event and send both together, so that a backend that dies in prefill after sending its head is failed over like one that never answered; time to first token does not move: `on` or `off` (`off` relays the head at once)",
    docs: 'vLLM sends the head as soon as it accepts the request. See [Routing](routing.md#failover).',
  },
  'upstream-connections': {
    type: 'string',
    default: String(d.DEFAULT_UPSTREAM_CONNECTIONS),
    describe: "Most open connections from each worker to each backend (the undici pool size); requests beyond it wait in the pool's queue",
  },
  'connect-timeout': {
    type: 'string',
    default: String(d.DEFAULT_CONNECT_TIMEOUT_MS),
    unit: 'ms',
    describe: 'Time to open a backend connection, ms (or `10s`); on expiry 504',
  },
  'headers-timeout': {
    type: 'string',
    default: String(d.DEFAULT_HEADERS_TIMEOUT_MS),
    unit: 'ms',
    describe:
      "Time until the backend's response headers, ms (`0`: none). A non-streamed completion sends them only when generation ends, so this bounds the longest non-streamed generation; on expiry 504",
  },
  'body-timeout': {
    type: 'string',
    default: String(d.DEFAULT_BODY_TIMEOUT_MS),
    unit: 'ms',
    describe:
      "Longest silence between two chunks of the backend's response, ms (`0`: none); on expiry the response is cut, or 504 if nothing was sent yet",
  },
  'body-limit': {
    type: 'string',
    default: String(d.DEFAULT_BODY_LIMIT_BYTES),
    unit: 'bytes',
    describe:
      "Largest request body the proxy reads, bytes (or `512kb`, `32mb`): the completion endpoints' and every other `POST` whose JSON body names the model; larger gets 413 before any backend is contacted. Other routes stream bodies through without a limit",
    docs: 'The routes that name the model are in [Routing](routing.md#many-backends).',
  },
  'drain-timeout': {
    type: 'string',
    default: String(d.DEFAULT_DRAIN_TIMEOUT_MS),
    unit: 'ms',
    describe: 'On stop or rolling restart, how long in-flight requests and streams may run on before they are cut, ms',
  },
  'keep-alive-timeout': {
    type: 'string',
    default: String(d.DEFAULT_KEEP_ALIVE_TIMEOUT_MS),
    unit: 'ms',
    describe: 'Idle time before a client keep-alive connection is closed, ms (longer than the 60 s idle timeout of common load balancers)',
  },
  'max-in-flight': {
    type: 'string',
    default: '0',
    describe:
      'Most requests in progress over all workers, each worker admitting `ceil(N / workers)`; beyond it a request gets 503 with `Retry-After: 1` at once instead of waiting in an unbounded queue (`0`: 4096 per worker, or twice `--upstream-connections` if that is more)',
    docs: "The automatic count is sized for LLM streams, which hold a slot for their whole generation but are idle between tokens: a worker's CPU runs out long before the count, and the count bounds memory (about 57 MB per 1,000 open streams) against a flood of slow clients.",
  },
  'client-header-timeout': {
    type: 'string',
    default: String(d.DEFAULT_CLIENT_HEADER_TIMEOUT_MS),
    unit: 'ms',
    describe: 'Time a client gets to send its request line and headers, ms; a slower one (slowloris) gets 408 and is disconnected',
  },
  'api-key': {
    type: 'string',
    describe:
      'Require `Authorization: Bearer <key>` on proxied routes; repeat the flag for several keys. Prefer `--api-key-file` or `INFERENCE_PROXY_API_KEY`: flags are visible in `ps`',
  },
  'api-key-file': {
    type: 'string',
    describe:
      "File with one API key per line (blank lines and `#` comments ignored). Only their SHA-256 digests are kept, never logged; the client's `Authorization` header is forwarded unchanged, so a key can also be the backend's own (vLLM `--api-key`)",
  },
  'allow-admin-routes': {
    type: 'string',
    default: 'off',
    describe:
      "Forward the engines' admin routes (`/sleep`, `/update_weights_from_disk`, ...) for every client: `on` or `off` (`off`: only keys with `admin: true` reach them)",
    docs: 'See [Security](security.md).',
  },
  'default-max-tokens': {
    type: 'string',
    default: String(d.DEFAULT_MAX_TOKENS_RESERVED),
    describe:
      "Tokens a completion without `max_tokens` reserves against its key's `tpm` and budget until its real usage settles the reservation",
  },
  'redis-url': {
    type: 'string',
    describe:
      "`redis://` or `rediss://` (TLS) URL, with a password if needed (logged without it): the named keys' limits are shared by every proxy instance using the same Redis (unset: each instance enforces them alone)",
    docs: 'See [Tenants](tenants.md).',
  },
  'redis-timeout': {
    type: 'string',
    default: String(d.DEFAULT_REDIS_TIMEOUT_MS),
    unit: 'ms',
    describe: 'Longest wait for Redis on a rate-limit decision, ms; past it `--redis-failure` decides, so no request waits longer',
  },
  'redis-failure': {
    type: 'string',
    default: 'open',
    describe:
      'Redis down, slow or restarting: `open` (each instance falls back to its own limits, logged once and counted in `ratelimit_store_errors_total`) or `closed` (503 `ratelimit_unavailable` to the requests that need Redis)',
  },
  'metrics-port': {
    type: 'string',
    describe:
      "Also serve `/metrics`, `/healthz`, `/dashboard` and `/dashboard/history` from the primary process on this port (off when unset; `--port`'s own exits 2)",
  },
  'metrics-host': { type: 'string', default: d.DEFAULT_METRICS_HOST, describe: 'Address for `--metrics-port`' },
  'removed-series-grace': {
    type: 'string',
    default: String(d.DEFAULT_REMOVED_SERIES_GRACE_MS),
    unit: 'ms',
    describe:
      'How long a backend gone from the fleet (reload, `--dns-refresh`) keeps its counters and histograms in `/metrics`, ms (or `5m`), so that a scrape sees their last values; its gauges (`backend_up`, `backend_weight`, `backend_models`) go at once',
  },
  // Hidden: for the routing benchmark and the tests, not for operators (--help and the docs leave them out).
  'affinity-bound': { type: 'string', default: 'both', hidden: true, describe: 'Affinity load bound: both, in-flight or prefill' },
  'dashboard-sample-interval': {
    type: 'string',
    default: String(d.DEFAULT_DASHBOARD_SAMPLE_MS),
    unit: 'ms',
    hidden: true,
    describe: "Interval of the primary's dashboard history samples, ms",
  },
} as const;

export type FlagName = keyof typeof FLAGS;

/**
 * Modes of the command line, never configuration: not from the environment or the file. --help lists them
 * after the flags.
 */
export const COMMAND_FLAGS = {
  'check-config': {
    type: 'boolean',
    describe:
      'Validate the configuration (flags, environment, `--config` file, host names) and exit: 0 when it is good, 2 with one line naming the problem',
    docs: 'Binds nothing, so it can check a new file beside the running proxy before a reload; warnings go to stderr. `INFERENCE_PROXY_CHECK_CONFIG` exits 2.',
  },
  help: { type: 'boolean', describe: 'Show help' },
  version: { type: 'boolean', describe: 'Show version number' },
} as const;
