import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

// Names and buckets of the original design; a change here is a breaking change for dashboards.
export const TTFB_BUCKETS_S = [0.1, 0.5, 1, 2, 5, 10, 30, 60];
export const DURATION_BUCKETS_S = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1];
export const QPS_WINDOW_S = 10;

/** Label values come only from this fixed set (plus 'other'): raw client paths never become label values. */
export const KNOWN_ENDPOINTS = [
  '/v1/chat/completions',
  '/v1/completions',
  '/v1/embeddings',
  '/v1/models',
  '/v1/responses',
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
  readonly timeToFirstByte: Histogram<'url' | 'endpoint'>;
  readonly requestDuration: Histogram<'url' | 'endpoint'>;
  readonly inputRequests: Counter<'url' | 'endpoint'>;
  readonly outputRequests: Counter<'url' | 'endpoint' | 'status'>;
  readonly inFlight: Gauge<'url'>;
  readonly inputQps: Gauge<'url'>;
  readonly outputQps: Gauge<'url'>;
}

/** The per-worker request metrics, registered on `registry`. Every worker must create identical buckets: the primary sums them element-wise. */
export function createWorkerMetrics(registry: Registry): WorkerMetrics {
  const registers = [registry];
  return {
    timeToFirstByte: new Histogram({
      name: 'time_to_first_byte_seconds',
      help: 'Time from the arrival of a request to the first byte of the backend response, in seconds.',
      labelNames: ['url', 'endpoint'],
      buckets: TTFB_BUCKETS_S,
      registers,
    }),
    requestDuration: new Histogram({
      name: 'request_duration_seconds',
      help: 'Time from the arrival of a request to the last byte sent to the client (or the abort), in seconds.',
      labelNames: ['url', 'endpoint'],
      buckets: DURATION_BUCKETS_S,
      registers,
    }),
    inputRequests: new Counter({
      name: 'input_requests_total',
      help: 'Proxied requests, counted on arrival.',
      labelNames: ['url', 'endpoint'],
      registers,
    }),
    outputRequests: new Counter({
      name: 'output_requests_total',
      help: 'Proxied requests, counted when the response ends; status 499 when the client left first.',
      labelNames: ['url', 'endpoint', 'status'],
      registers,
    }),
    inFlight: new Gauge({
      name: 'in_flight_requests',
      help: 'Proxied requests that have arrived and not yet ended.',
      labelNames: ['url'],
      registers,
    }),
    inputQps: new Gauge({
      name: 'input_qps',
      help: `Proxied requests arriving per second, averaged over the last ${QPS_WINDOW_S} s.`,
      labelNames: ['url'],
      registers,
    }),
    outputQps: new Gauge({
      name: 'output_qps',
      help: `Proxied responses ending per second, averaged over the last ${QPS_WINDOW_S} s.`,
      labelNames: ['url'],
      registers,
    }),
  };
}

export interface PrimaryMetrics {
  readonly workerRestarts: Counter;
  readonly workersAlive: Gauge;
  readonly scrapeWorkerFailures: Counter;
}

export function createPrimaryMetrics(registry: Registry): PrimaryMetrics {
  const registers = [registry];
  return {
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
