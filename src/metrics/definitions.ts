import { Counter, Gauge, type Registry } from 'prom-client';
import { FastHistogram } from './fast-histogram.js';

// Names and buckets of the original design; removing an edge breaks the queries that name it.
const TTFB_BUCKETS_S = [0.1, 0.5, 1, 2, 5, 10, 30, 60];
/**
 * The original design's edges (0.001 ... 1 s) and, beyond them, edges up to 10 min (issue 10): a generation
 * takes seconds to minutes, and with the design's buckets alone every one of them fell into +Inf. Adding
 * edges keeps every `le` a query may name; the top matches --headers-timeout's 10 min default.
 */
const DURATION_BUCKETS_S = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600];
export const QPS_WINDOW_S = 10;
/** The proxy's own time per request: 25 µs to 100 ms (issue 13). */
const OVERHEAD_BUCKETS_S = [0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1];

/** Label values come only from this fixed set (plus 'other'): raw client paths never become label values. */
export const KNOWN_ENDPOINTS = [
  '/v1/chat/completions',
  '/v1/completions',
  '/v1/embeddings',
  '/v1/models',
  '/v1/responses',
  '/v1/messages',
  '/v1/rerank',
  '/v1/score',
  '/v1/audio/transcriptions',
  '/v1/audio/translations',
  '/health',
  '/tokenize',
  '/detokenize',
  '/version',
  '/ping',
] as const;
export const OTHER_ENDPOINT = 'other';

export interface WorkerMetrics {
  readonly timeToFirstByte: FastHistogram<'url' | 'endpoint'>;
  readonly requestDuration: FastHistogram<'url' | 'endpoint'>;
  readonly proxyOverhead: FastHistogram<'url' | 'endpoint'>;
  readonly inputRequests: Counter<'url' | 'endpoint'>;
  readonly outputRequests: Counter<'url' | 'endpoint' | 'status'>;
  readonly inFlight: Gauge<'url'>;
  readonly inputQps: Gauge<'url'>;
  readonly outputQps: Gauge<'url'>;
  readonly llm: LlmMetrics;
  readonly malformedRequests: Counter<'status'>;
  readonly overloadRejections: Counter<'url'>;
  readonly inFlightLimit: Gauge;
  readonly upstreamRetries: Counter<'url' | 'reason'>;
  /** Attempts in progress on each backend (the load least-load routes on), set at snapshot time. */
  readonly backendInFlight: Gauge<'url'>;
  readonly backendPanic: Counter<'scope'>;
  readonly routingAffinity: Counter<'policy' | 'result'>;
  /** Removes every series whose url label is `url` (a backend gone for longer than the grace period). */
  removeSeries(url: string): Promise<void>;
  /**
   * Adds what runs just before the deferred request metrics (counts, in-flight, QPS) are read, by any
   * reader of the registry: the recorders bring them up to date there.
   */
  beforeRead(hook: () => void): void;
  /**
   * Runs `read` (which reads the whole registry) after the beforeRead hooks ran once; meanwhile every
   * metric's own collect stays quiet (one refresh per snapshot, not one per metric, and one consistent view).
   */
  readFresh<T>(read: () => Promise<T>): Promise<T>;
}

/** The per-worker request metrics, registered on `registry`. Every worker must create identical buckets: the primary sums them element-wise. */
export function createWorkerMetrics(registry: Registry): WorkerMetrics {
  const registers = [registry];
  const hooks: Array<() => void> = [];
  let quiet = false;
  const refresh = (): void => {
    for (const hook of hooks) hook();
  };
  const collect = (): void => {
    if (!quiet) refresh();
  };
  return {
    beforeRead(hook) {
      hooks.push(hook);
    },
    async readFresh(read) {
      refresh();
      quiet = true;
      try {
        return await read();
      } finally {
        quiet = false;
      }
    },
    timeToFirstByte: new FastHistogram({
      name: 'time_to_first_byte_seconds',
      help: 'Time from the arrival of a request to the first byte of the backend response, in seconds.',
      labelNames: ['url', 'endpoint'],
      buckets: TTFB_BUCKETS_S,
      registers,
    }),
    requestDuration: new FastHistogram({
      name: 'request_duration_seconds',
      help: 'Time from the arrival of a request to the last byte sent to the client (or the abort), in seconds.',
      labelNames: ['url', 'endpoint'],
      buckets: DURATION_BUCKETS_S,
      registers,
    }),
    proxyOverhead: new FastHistogram({
      name: 'proxy_overhead_seconds',
      help: "The time the proxy itself adds to a request: from the request head received to the upstream request written, plus from the upstream response head received to the client's response head written, in seconds.",
      labelNames: ['url', 'endpoint'],
      buckets: OVERHEAD_BUCKETS_S,
      registers,
    }),
    inputRequests: new Counter({
      name: 'input_requests_total',
      help: 'Proxied requests, counted on arrival.',
      labelNames: ['url', 'endpoint'],
      registers,
      collect,
    }),
    outputRequests: new Counter({
      name: 'output_requests_total',
      help: 'Proxied requests, counted when the response ends; status 499 when the client left first.',
      labelNames: ['url', 'endpoint', 'status'],
      registers,
      collect,
    }),
    inFlight: new Gauge({
      name: 'in_flight_requests',
      help: 'Proxied requests that have arrived and not yet ended.',
      labelNames: ['url'],
      registers,
      collect,
    }),
    inputQps: new Gauge({
      name: 'input_qps',
      help: `Proxied requests arriving per second, averaged over the last ${QPS_WINDOW_S} s.`,
      labelNames: ['url'],
      registers,
      collect,
    }),
    outputQps: new Gauge({
      name: 'output_qps',
      help: `Proxied responses ending per second, averaged over the last ${QPS_WINDOW_S} s.`,
      labelNames: ['url'],
      registers,
      collect,
    }),
    llm: createLlmMetrics(registry, collect),
    malformedRequests: new Counter({
      name: 'malformed_requests_total',
      help: 'Requests refused before routing: unparsable (400), headers too large (431), headers too slow (408), CONNECT (405).',
      labelNames: ['status'],
      registers,
    }),
    overloadRejections: new Counter({
      name: 'overload_rejections_total',
      help: 'Requests answered 503 with Retry-After because --max-in-flight was reached (also counted in output_requests_total).',
      labelNames: ['url'],
      registers,
      collect,
    }),
    inFlightLimit: new Gauge({
      name: 'in_flight_limit',
      help: 'The --max-in-flight limit over all backends, summed over the workers: sum(in_flight_requests) near it means shedding is close.',
      registers,
    }),
    upstreamRetries: new Counter({
      name: 'upstream_retries_total',
      help: 'Requests sent again, to another backend when one is up, because this backend failed before any byte reached the client: connect error, reset, or a 429/502/503/504 head.',
      labelNames: ['url', 'reason'],
      registers,
      collect,
    }),
    backendInFlight: new Gauge({
      name: 'backend_in_flight_requests',
      help: 'Attempts in progress on each backend: the load that --routing least-load balances.',
      labelNames: ['url'],
      registers,
      collect,
    }),
    backendPanic: new Counter({
      name: 'backend_panic_total',
      help: 'Requests sent in panic mode (every backend that may serve them is tried rather than none): scope="fleet" when no backend at all was up, scope="model" when others were but none of those serving the request\'s model.',
      labelNames: ['scope'],
      registers,
      collect,
    }),
    routingAffinity: new Counter({
      name: 'routing_affinity_total',
      help: 'Requests routed by a key (the --routing policies keyed by session or prompt prefix) by how their key fared: home (its home backend), overflow (home over the load bound), unavailable (home down, held or not serving the model), no_key (none: least-load).',
      labelNames: ['policy', 'result'],
      registers,
      collect,
    }),
    removeSeries: (url) => removeUrlSeries(registry, url),
  };
}

/** Drops every series labelled url=`url` from the metrics of `registry` that have a url label. */
async function removeUrlSeries(registry: Registry, url: string): Promise<void> {
  for (const metric of registry.getMetricsAsArray() as unknown[]) {
    if (metric instanceof FastHistogram) {
      metric.removeWhere((labels) => labels.url === url);
      continue;
    }
    const labelled = metric as Counter<string> & { labelNames?: readonly string[] };
    if (!labelled.labelNames?.includes('url')) continue;
    const { values } = await labelled.get();
    for (const value of values) if (value.labels.url === url) labelled.remove(value.labels as Record<string, string>);
  }
}

export interface PrimaryMetrics {
  readonly workersConfigured: Gauge;
  readonly workerRestarts: Counter;
  readonly workersAlive: Gauge;
  readonly scrapeWorkerFailures: Counter;
}

export function createPrimaryMetrics(registry: Registry): PrimaryMetrics {
  const registers = [registry];
  return {
    workersConfigured: new Gauge({
      name: 'workers_configured',
      help: 'Workers the proxy is configured to run (--workers); workers_alive below it for long means a crash loop.',
      registers,
    }),
    workerRestarts: new Counter({
      name: 'worker_restarts_total',
      help: 'Workers started to replace one that exited (crash, kill or rolling restart).',
      registers,
    }),
    workersAlive: new Gauge({
      name: 'workers_alive',
      help: 'Worker processes that are listening and serving.',
      registers,
    }),
    scrapeWorkerFailures: new Counter({
      name: 'metrics_scrape_worker_failures_total',
      help: 'Times a worker did not answer a metrics request in time; that scrape used its last known counts.',
      registers,
    }),
  };
}

// LLM metrics (issue 3). Buckets avoid the values tests and operators care about most sitting on a
// boundary: a steady 20 ms/token stream is 50 tokens/s, inside (40, 60].
const TTFT_BUCKETS_S = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 20, 30, 60, 120, 300, 600,
];
const TPOT_BUCKETS_S = [0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10];
const THROUGHPUT_BUCKETS_TPS = [1, 2, 5, 10, 15, 20, 30, 40, 60, 80, 100, 150, 200, 300, 400, 600, 800, 1000, 1500, 2000, 3000, 5000];
/** 1, 4, 16 ... 4^10 = 1,048,576 tokens. */
const TOKEN_COUNT_BUCKETS = Array.from({ length: 11 }, (_, i) => 4 ** i);

export interface LlmMetrics {
  readonly timeToFirstToken: FastHistogram<'url' | 'endpoint'>;
  readonly timePerOutputToken: FastHistogram<'url' | 'endpoint'>;
  readonly decodingThroughput: FastHistogram<'url' | 'endpoint'>;
  readonly promptTokens: Counter<'url' | 'endpoint'>;
  readonly completionTokens: Counter<'url' | 'endpoint'>;
  readonly requestPromptTokens: FastHistogram<'url' | 'endpoint'>;
  readonly requestCompletionTokens: FastHistogram<'url' | 'endpoint'>;
  readonly streamOutcomes: Counter<'url' | 'endpoint' | 'outcome'>;
  readonly usageEstimated: Counter<'url' | 'endpoint'>;
}

/** `collect` runs before the (deferred) LLM counters are read, as for the request counters. */
function createLlmMetrics(registry: Registry, collect?: () => void): LlmMetrics {
  const registers = [registry];
  const labelNames = ['url', 'endpoint'] as const;
  return {
    timeToFirstToken: new FastHistogram({
      name: 'time_to_first_token_seconds',
      help: 'Streamed completions: time from the arrival of the request to the first event carrying generated content (not a comment, not the role-only chunk), in seconds.',
      labelNames,
      buckets: TTFT_BUCKETS_S,
      registers,
    }),
    timePerOutputToken: new FastHistogram({
      name: 'time_per_output_token_seconds',
      help: 'Streamed completions with at least 2 tokens: (time of last content event - time of first) / (completion tokens - 1), in seconds.',
      labelNames,
      buckets: TPOT_BUCKETS_S,
      registers,
    }),
    decodingThroughput: new FastHistogram({
      name: 'decoding_throughput_tokens_per_second',
      help: 'Streamed completions with at least 2 tokens: (completion tokens - 1) / (time of last content event - time of first).',
      labelNames,
      buckets: THROUGHPUT_BUCKETS_TPS,
      registers,
    }),
    promptTokens: new Counter({
      name: 'prompt_tokens_total',
      help: 'Prompt (input) tokens, as reported by the backend.',
      labelNames,
      registers,
      collect,
    }),
    completionTokens: new Counter({
      name: 'completion_tokens_total',
      help: 'Completion (output) tokens, as reported by the backend, or estimated from content events when it reported none (see usage_estimated_total).',
      labelNames,
      registers,
      collect,
    }),
    requestPromptTokens: new FastHistogram({
      name: 'request_prompt_tokens',
      help: 'Prompt tokens per request, as reported by the backend.',
      labelNames,
      buckets: TOKEN_COUNT_BUCKETS,
      registers,
    }),
    requestCompletionTokens: new FastHistogram({
      name: 'request_completion_tokens',
      help: 'Completion tokens per request (reported, or estimated for streams without usage).',
      labelNames,
      buckets: TOKEN_COUNT_BUCKETS,
      registers,
    }),
    streamOutcomes: new Counter({
      name: 'stream_outcomes_total',
      help: 'How completion responses ended: completed ([DONE] or a complete body), client_disconnect, upstream_error (the backend failed or broke off), inband_error (an error event under HTTP 200), timeout.',
      labelNames: ['url', 'endpoint', 'outcome'],
      registers,
      collect,
    }),
    usageEstimated: new Counter({
      name: 'usage_estimated_total',
      help: 'Streamed completions whose completion tokens were estimated from the number of content events because the backend sent no usage.',
      labelNames,
      registers,
      collect,
    }),
  };
}
