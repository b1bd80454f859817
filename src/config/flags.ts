import * as d from './defaults.js';

/**
 * Flag declarations only: every value is read as a string and validated by buildConfig(),
 * so a bad value gets one line naming the flag instead of yargs' coercion surprises.
 */
export const FLAGS = {
  'backend-url': {
    type: 'string',
    default: d.DEFAULT_BACKEND_URL,
    describe: 'URL of the OpenAI-compatible backend (http or https; a path becomes a prefix)',
  },
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
    describe: 'Most requests in progress over all workers; more get 503 with Retry-After (0: 2 x --upstream-connections per worker)',
  },
  'client-header-timeout': {
    type: 'string',
    default: String(d.DEFAULT_CLIENT_HEADER_TIMEOUT_MS),
    describe: 'Time a client gets to send its request headers, ms; slower clients get 408 (slowloris)',
  },
  'api-key': { type: 'string', describe: 'Require Authorization: Bearer <key> on proxied routes; repeat for several keys' },
  'api-key-file': { type: 'string', describe: 'File with one API key per line (blank lines and # comments ignored)' },
  'metrics-port': { type: 'string', describe: 'Also serve /metrics and /healthz from the primary on this port (off by default)' },
  'metrics-host': { type: 'string', default: d.DEFAULT_METRICS_HOST, describe: 'Address for --metrics-port' },
} as const;

export type FlagName = keyof typeof FLAGS;
