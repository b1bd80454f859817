import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { QueuePrimaryMessage, QueueWorkerMessage } from '../admission/queue-messages.js';
import type { MetricsDelta } from '../metrics/snapshot-delta.js';
import type { TenantPrimaryMessage, TenantWorkerMessage } from '../tenants/admission-messages.js';
import type { ConfigStatus } from './config-status.js';
import type { BackendOut, CheckRecords, FleetState } from './fleet.js';

/** One registry as prom-client's getMetricsAsJSON() gives it (the primary's, and the retired workers' totals). */
export type MetricsSnapshot = MetricObjectWithValues<MetricValue<string>>[];

/** One worker as /healthz reports it. */
export interface WorkerInfo {
  id: number;
  pid: number;
  state: 'starting' | 'ready' | 'draining';
  startedAtMs: number;
}

/**
 * Messages between the primary and its workers, a discriminated union on `type`. Namespaced (`iproxy:`)
 * so that prom-client's and pm2's messages on the same channel are told apart and ignored.
 */
/** One backend's load as a worker reports it: its attempts in progress, and of those the ones still waiting for a first byte. */
export type BackendLoad = [inFlight: number, prefilling: number];
/** A worker's load per backend URL. */
export type LoadReport = Record<string, BackendLoad>;

export type WorkerToPrimary =
  | { type: 'iproxy:ready'; address: string; port: number }
  /** The worker cannot listen (its error code: EADDRINUSE, EADDRNOTAVAIL, ...) and exits. */
  | { type: 'iproxy:listen-failed'; code: string }
  /** The series that changed since this worker's previous answer (all of them when asked for `full`). */
  | { type: 'iproxy:metrics-res'; id: number; delta: MetricsDelta }
  | { type: 'iproxy:final-metrics'; delta: MetricsDelta }
  | { type: 'iproxy:scrape-req'; id: number }
  /** Per backend URL: this worker's attempts in progress and of those the ones still prefilling (sent when they changed, at most every few tens of ms). */
  | { type: 'iproxy:load'; load: LoadReport }
  /** This worker's verdict from live traffic: a backend to take out (max fails) or to leave alone (Retry-After). */
  | { type: 'iproxy:backend-out'; verdict: BackendOut }
  | { type: 'iproxy:history-req'; id: number }
  /** Rate-limit admissions and settles (tenants/admission-client.ts). */
  | TenantWorkerMessage
  /** The admission queue (admission/queue-messages.ts). */
  | QueueWorkerMessage;

export type PrimaryToWorker =
  | { type: 'iproxy:metrics-req'; id: number; full: boolean }
  | { type: 'iproxy:scrape-res'; id: number; status: number; contentType: string; body: string }
  | { type: 'iproxy:history-res'; id: number; status: number; contentType: string; body: string }
  | { type: 'iproxy:state'; workersAlive: number; startedAtMs: number; workers: WorkerInfo[]; config: ConfigStatus }
  | { type: 'iproxy:drain'; deadlineMs: number }
  | { type: 'iproxy:final-ack' }
  | { type: 'iproxy:fleet'; fleet: FleetState }
  /** Only the last checks that changed since the previous broadcast: nothing else did. */
  | { type: 'iproxy:checks'; checks: CheckRecords }
  /** Every worker's load report (see iproxy:load), by worker id. */
  | { type: 'iproxy:loads'; loads: Array<[number, LoadReport]> }
  | TenantPrimaryMessage
  /** The admission queue and the engines' readings (admission/queue-messages.ts). */
  | QueuePrimaryMessage;

const PREFIX = 'iproxy:';

export function isProxyMessage<T extends { type: string }>(message: unknown): message is T {
  return (
    typeof message === 'object' &&
    message !== null &&
    typeof (message as { type?: unknown }).type === 'string' &&
    (message as { type: string }).type.startsWith(PREFIX)
  );
}
