import type { Counter, Gauge } from 'prom-client';
import { DeferredCount } from './deferred-count.js';
import { KNOWN_ENDPOINTS, OTHER_ENDPOINT, type WorkerMetrics } from './definitions.js';
import type { HistogramSeries } from './fast-histogram.js';
import { LlmRouteRecorder } from './llm-recorder.js';
import { RateWindow } from './rate-window.js';

const COMPLETION_ENDPOINTS = new Set(['/v1/chat/completions', '/v1/completions']);

/**
 * Bound metric children for one backend and one endpoint, made when the backend joins so the hot path only
 * looks them up; a series is exported from its first count (the completion counters from startup). Requests
 * answered before a backend was chosen have no LLM metrics and no zeroed series.
 * Request counts are deferred (see DeferredCount): `flush()` must run before the registry is read.
 */
export class RouteRecorder {
  readonly #ttfb: HistogramSeries;
  readonly #duration: HistogramSeries;
  readonly #overhead: HistogramSeries;
  readonly #input: DeferredCount;
  readonly #outputs = new Map<number, DeferredCount>();
  readonly #output: Counter<'url' | 'endpoint' | 'status'>;
  readonly backend: BackendRecorder;
  readonly #url: string;
  readonly endpoint: string;
  /** Token and stream metrics, for the completion endpoints only. */
  readonly llm: LlmRouteRecorder | null;

  constructor(metrics: WorkerMetrics, backend: BackendRecorder, url: string, endpoint: string, zeroCompletionSeries: boolean) {
    this.llm = COMPLETION_ENDPOINTS.has(endpoint) && zeroCompletionSeries ? new LlmRouteRecorder(metrics.llm, url, endpoint) : null;
    // The completion endpoints' counters exist from startup at 0, so rate() sees the very first request;
    // every histogram series appears with its first observation (issue 18: series grow with what happened).
    if (this.llm !== null) metrics.inputRequests.labels(url, endpoint).inc(0);
    this.#ttfb = metrics.timeToFirstByte.labels(url, endpoint);
    this.#duration = metrics.requestDuration.labels(url, endpoint);
    this.#overhead = metrics.proxyOverhead.labels(url, endpoint);
    this.#input = new DeferredCount(metrics.inputRequests.labels(url, endpoint));
    this.#output = metrics.outputRequests;
    this.backend = backend;
    this.#url = url;
    this.endpoint = endpoint;
  }

  arrived(): void {
    this.#input.add();
    this.backend.arrived();
  }

  firstByte(seconds: number): void {
    this.#ttfb.observe(seconds);
  }

  /** The proxy's own time for this request (see proxy_overhead_seconds). */
  overhead(seconds: number): void {
    this.#overhead.observe(seconds);
  }

  ended(status: number, durationSeconds: number): void {
    let output = this.#outputs.get(status);
    if (output === undefined) {
      output = new DeferredCount(this.#output.labels(this.#url, this.endpoint, String(status)));
      this.#outputs.set(status, output);
    }
    output.add();
    this.#duration.observe(durationSeconds);
    this.backend.ended();
  }

  /** Hands the deferred counts to prom-client. */
  flush(): void {
    this.#input.flush();
    for (const output of this.#outputs.values()) output.flush();
    this.llm?.flush();
  }
}

/** Why a request was sent again (upstream_retries_total{reason}); the URL label is the backend that failed. */
export const RETRY_REASONS = ['connect', 'reset', '429', '502', '503', '504'] as const;
export type RetryReason = (typeof RETRY_REASONS)[number];

/** Per-backend gauges (in-flight and the two request-rate windows, set when a snapshot is taken) and counters. */
export class BackendRecorder {
  readonly url: string;
  readonly #inFlight: ReturnType<Gauge<'url'>['labels']>;
  readonly #inputRate = new RateWindow();
  readonly #outputRate = new RateWindow();
  readonly #inputQps: ReturnType<Gauge<'url'>['labels']>;
  readonly #outputQps: ReturnType<Gauge<'url'>['labels']>;
  readonly #overload: DeferredCount;
  readonly #retries: Record<RetryReason, DeferredCount>;
  readonly #routes = new Map<string, RouteRecorder>();
  #inFlightCount = 0;
  /** The gauges' values as last set: in-flight, input QPS, output QPS. */
  #shown: [number, number, number] = [0, 0, 0];

  constructor(metrics: WorkerMetrics, url: string, zeroCompletionSeries: boolean) {
    this.url = url;
    this.#overload = new DeferredCount(metrics.overloadRejections.labels(url));
    const retries = {} as Record<RetryReason, DeferredCount>;
    for (const reason of RETRY_REASONS) retries[reason] = new DeferredCount(metrics.upstreamRetries.labels(url, reason));
    this.#retries = retries;
    this.#inFlight = metrics.inFlight.labels(url);
    this.#inputQps = metrics.inputQps.labels(url);
    this.#outputQps = metrics.outputQps.labels(url);
    this.#inFlight.set(0);
    this.#inputQps.set(0);
    this.#outputQps.set(0);
    for (const endpoint of ENDPOINT_LABELS) {
      this.#routes.set(endpoint, new RouteRecorder(metrics, this, url, endpoint, zeroCompletionSeries));
    }
  }

  /** The recorder for an endpoint label (anything unknown maps to 'other'). */
  route(endpoint: string): RouteRecorder {
    return this.#routes.get(endpoint) ?? (this.#routes.get(OTHER_ENDPOINT) as RouteRecorder);
  }

  arrived(): void {
    this.#inFlightCount++;
    this.#inputRate.add();
  }

  ended(): void {
    this.#inFlightCount--;
    this.#outputRate.add();
  }

  /** A request that fails over leaves this backend for another one (it was counted here on arrival). */
  movedAway(): void {
    this.#inFlightCount--;
  }

  /** …and joins the backend it failed over to, without arriving twice. */
  movedIn(): void {
    this.#inFlightCount++;
  }

  overloaded(): void {
    this.#overload.add();
  }

  retried(reason: RetryReason): void {
    this.#retries[reason].add();
  }

  /**
   * Called before each snapshot: gauges are computed and deferred counts handed over only when somebody
   * looks, and a gauge is set only when its value moved (prom-client hashes the labels on every set).
   */
  refresh(): void {
    const inFlight = this.#inFlightCount;
    const inputQps = this.#inputRate.perSecond();
    const outputQps = this.#outputRate.perSecond();
    if (inFlight !== this.#shown[0]) this.#inFlight.set(inFlight);
    if (inputQps !== this.#shown[1]) this.#inputQps.set(inputQps);
    if (outputQps !== this.#shown[2]) this.#outputQps.set(outputQps);
    this.#shown = [inFlight, inputQps, outputQps];
    this.#overload.flush();
    for (const reason of RETRY_REASONS) this.#retries[reason].flush();
    for (const route of this.#routes.values()) route.flush();
  }
}

/** The url label of requests the proxy answered before choosing a backend (401, 404 model_not_found, 413, 503 shed). */
const NO_BACKEND_URL = 'none';

const ENDPOINT_LABELS = [...KNOWN_ENDPOINTS, OTHER_ENDPOINT];

export interface RequestRecorder {
  /** The recorder of requests answered before any backend was chosen. */
  readonly unrouted: BackendRecorder;
  /** The recorder of a backend, made when the backend joins (never on the request path). */
  backend(url: string): BackendRecorder;
  /** Stops exporting a backend's series (after the removal grace period): `/metrics` must not grow for ever. */
  forget(url: string): Promise<void>;
}

export function createRequestRecorder(metrics: WorkerMetrics, inFlightLimit: number): RequestRecorder {
  // One limit for the whole worker, whatever the backend.
  metrics.inFlightLimit.set(inFlightLimit);
  const backends = new Map<string, BackendRecorder>();
  const unrouted = new BackendRecorder(metrics, NO_BACKEND_URL, false);
  // Every reader of the registry (a scrape, the final snapshot, a test) sees up-to-date gauges and counts.
  metrics.beforeRead(() => {
    unrouted.refresh();
    for (const recorder of backends.values()) recorder.refresh();
  });
  return {
    unrouted,
    backend(url) {
      let recorder = backends.get(url);
      if (recorder === undefined) {
        recorder = new BackendRecorder(metrics, url, true);
        backends.set(url, recorder);
      }
      return recorder;
    },
    async forget(url) {
      const recorder = backends.get(url);
      if (recorder === undefined) return;
      backends.delete(url);
      await metrics.removeSeries(url);
    },
  };
}
