import type { Counter, Gauge } from 'prom-client';
import type { BackendConfig } from '../config/types.js';
import { DeferredCount } from './deferred-count.js';
import { KNOWN_ENDPOINTS, OTHER_ENDPOINT, type WorkerMetrics } from './definitions.js';
import type { HistogramSeries } from './fast-histogram.js';
import { LlmRouteRecorder } from './llm-recorder.js';
import { RateWindow } from './rate-window.js';

const COMPLETION_ENDPOINTS = new Set(['/v1/chat/completions', '/v1/completions']);

/**
 * Bound metric children for one backend and one endpoint, made at startup so the hot path only looks them up.
 * Request counts are deferred (see DeferredCount): `flush()` must run before the registry is read.
 */
export class RouteRecorder {
  readonly #ttfb: HistogramSeries;
  readonly #duration: HistogramSeries;
  readonly #input: DeferredCount;
  readonly #outputs = new Map<number, DeferredCount>();
  readonly #output: Counter<'url' | 'endpoint' | 'status'>;
  readonly backend: BackendRecorder;
  readonly #url: string;
  readonly endpoint: string;
  /** Token and stream metrics, for the completion endpoints only. */
  readonly llm: LlmRouteRecorder | null;

  constructor(metrics: WorkerMetrics, backend: BackendRecorder, url: string, endpoint: string) {
    this.llm = COMPLETION_ENDPOINTS.has(endpoint) ? new LlmRouteRecorder(metrics.llm, url, endpoint) : null;
    if (this.llm !== null) {
      // The completion series exist from startup at 0, so rate() sees the very first request.
      metrics.inputRequests.labels(url, endpoint).inc(0);
      metrics.timeToFirstByte.zero({ url, endpoint });
      metrics.requestDuration.zero({ url, endpoint });
    }
    this.#ttfb = metrics.timeToFirstByte.labels(url, endpoint);
    this.#duration = metrics.requestDuration.labels(url, endpoint);
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

/** Per-backend gauges: in-flight and the two request-rate windows, all set when a snapshot is taken. */
export class BackendRecorder {
  readonly #inFlight: ReturnType<Gauge<'url'>['labels']>;
  readonly #inputRate = new RateWindow();
  readonly #outputRate = new RateWindow();
  readonly #inputQps: ReturnType<Gauge<'url'>['labels']>;
  readonly #outputQps: ReturnType<Gauge<'url'>['labels']>;
  readonly #overload: ReturnType<Counter<'url'>['labels']>;
  readonly #retries: ReturnType<Counter<'url'>['labels']>;
  #inFlightCount = 0;

  constructor(metrics: WorkerMetrics, url: string) {
    this.#overload = metrics.overloadRejections.labels(url);
    this.#retries = metrics.upstreamRetries.labels(url);
    this.#inFlight = metrics.inFlight.labels(url);
    this.#inputQps = metrics.inputQps.labels(url);
    this.#outputQps = metrics.outputQps.labels(url);
    this.#inFlight.set(0);
    this.#inputQps.set(0);
    this.#outputQps.set(0);
  }

  arrived(): void {
    this.#inFlightCount++;
    this.#inputRate.add();
  }

  ended(): void {
    this.#inFlightCount--;
    this.#outputRate.add();
  }

  overloaded(): void {
    this.#overload.inc();
  }

  retried(): void {
    this.#retries.inc();
  }

  /** Called before each snapshot: the gauges are computed only when somebody looks. */
  refresh(): void {
    this.#inFlight.set(this.#inFlightCount);
    this.#inputQps.set(this.#inputRate.perSecond());
    this.#outputQps.set(this.#outputRate.perSecond());
  }
}

export interface RequestRecorder {
  /** The recorder for a backend and an endpoint label (anything unknown maps to 'other'). */
  route(backendIndex: number, endpoint: string): RouteRecorder;
}

export function createRequestRecorder(metrics: WorkerMetrics, backends: readonly BackendConfig[], inFlightLimit: number): RequestRecorder {
  const endpoints = [...KNOWN_ENDPOINTS, OTHER_ENDPOINT];
  // One limit for the whole worker, whatever the backend.
  metrics.inFlightLimit.set(inFlightLimit);
  const backendRecorders = backends.map((backend) => new BackendRecorder(metrics, backend.url));
  const tables = backends.map((backend, i) => {
    const table = new Map<string, RouteRecorder>();
    for (const endpoint of endpoints)
      table.set(endpoint, new RouteRecorder(metrics, backendRecorders[i] as BackendRecorder, backend.url, endpoint));
    return table;
  });
  const refresh = (): void => {
    for (const recorder of backendRecorders) recorder.refresh();
    for (const table of tables) for (const route of table.values()) route.flush();
  };
  // Every reader of the registry (a scrape, the final snapshot, a test) sees up-to-date gauges and counts.
  metrics.beforeRead(refresh);
  return {
    route(backendIndex, endpoint) {
      const table = tables[backendIndex] as Map<string, RouteRecorder>;
      return table.get(endpoint) ?? (table.get(OTHER_ENDPOINT) as RouteRecorder);
    },
  };
}
