import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { PRIORITY_CLASSES, type PriorityClass } from '../admission/priority-class.js';
import type { QueueLeaveReason } from '../admission/slot-granter.js';

/** Seconds in the admission queue: from a blink to past the longest --queue-timeout that makes sense. */
const QUEUE_WAIT_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** What the primary knows of the engines and of its queue: one prober and one queue per instance, never summed over workers. */
export interface AdmissionMetrics {
  readonly engineWaiting: Gauge<'url'>;
  readonly engineRunning: Gauge<'url'>;
  readonly engineKvUsage: Gauge<'url'>;
  readonly queueWait: Histogram<'priority'>;
  readonly queueRejected: Counter<'priority' | 'reason'>;
  /** A request left the queue after `waitedMs`: sent on (reason null), or not. */
  left(priority: PriorityClass, waitedMs: number, reason: QueueLeaveReason | null): void;
}

export interface AdmissionMetricsSources {
  /** Requests waiting in the queue now, per class. */
  depth(priority: PriorityClass): number;
  /** Every backend that can be saturated (an engine reading, or a max_concurrency) with whether it is now. */
  saturation(): Iterable<readonly [url: string, saturated: boolean]>;
}

export function createAdmissionMetrics(registry: Registry, sources: AdmissionMetricsSources): AdmissionMetrics {
  const registers = [registry];
  // A class's depth series appears with its first queued request, and stays (at 0) after.
  const seen = new Set<PriorityClass>();
  const queueDepth = new Gauge({
    name: 'queue_depth',
    help: 'Requests waiting in the proxy for a backend with room (every backend they may use is saturated), by priority class.',
    labelNames: ['priority'],
    registers,
    collect() {
      for (const priority of PRIORITY_CLASSES) {
        const depth = sources.depth(priority);
        if (depth > 0) seen.add(priority);
        if (seen.has(priority)) queueDepth.labels(priority).set(depth);
      }
    },
  });
  const saturated = new Gauge({
    name: 'backend_saturated',
    help: 'Whether the backend is saturated (1): its engine queue would grow past --saturation-waiting, its KV use is at --saturation-kv, or it has max_concurrency requests in progress. Only for backends with a fresh engine reading or a max_concurrency.',
    labelNames: ['url'],
    registers,
    collect() {
      saturated.reset();
      for (const [url, isSaturated] of sources.saturation()) saturated.labels(url).set(isSaturated ? 1 : 0);
    },
  });
  const queueWait = new Histogram({
    name: 'queue_wait_seconds',
    help: 'Time requests waited in the proxy queue, observed when they leave it: sent to a backend, timed out, or their client gone.',
    labelNames: ['priority'],
    buckets: QUEUE_WAIT_BUCKETS_S,
    registers,
  });
  const queueRejected = new Counter({
    name: 'queue_rejected_total',
    help: 'Queued requests that left without a backend: timeout (429 after --queue-timeout), client_gone (the client left while it waited), shutdown (its worker stopped).',
    labelNames: ['priority', 'reason'],
    registers,
  });
  return {
    engineWaiting: new Gauge({
      name: 'backend_engine_waiting',
      help: "Requests waiting in the backend's engine queue, from its own /metrics (vllm:num_requests_waiting or its kin), as last read; absent while no fresh reading.",
      labelNames: ['url'],
      registers,
    }),
    engineRunning: new Gauge({
      name: 'backend_engine_running',
      help: "Requests the backend's engine is running, from its own /metrics, as last read; absent while no fresh reading.",
      labelNames: ['url'],
      registers,
    }),
    engineKvUsage: new Gauge({
      name: 'backend_engine_kv_usage',
      help: "Share of the backend engine's KV cache in use (0 to 1), from its own /metrics, as last read; absent while no fresh reading or when the engine does not tell.",
      labelNames: ['url'],
      registers,
    }),
    queueWait,
    queueRejected,
    left(priority, waitedMs, reason) {
      queueWait.labels(priority).observe(waitedMs / 1000);
      if (reason !== null) queueRejected.labels(priority, reason).inc();
    },
  };
}
