import type { HealthFlags } from './backend-state.js';

/**
 * The fleet as the primary sees it and hands it to every worker: what each backend is, whether it is up,
 * and what it serves. The primary is the one place that probes, discovers models, resolves names and
 * decides ejections; workers only apply this state (and their own immediate verdicts, see Backend).
 */
export interface FleetBackend {
  /** Identity and metric label: the configured URL, or http://<address>:<port><path> when resolved by --dns-refresh. */
  readonly url: string;
  /** Where connections go (scheme, host or address, port). */
  readonly origin: string;
  readonly basePath: string;
  /** The Host header sent to it: the configured host name even when connecting to a resolved address. */
  readonly host: string;
  readonly weight: number;
  /** Most requests in progress on it over the whole fleet (configured `max_concurrency`); null: no bound. */
  readonly maxConcurrency: number | null;
  /** The models it serves (configured, or read from its /v1/models); null while unknown: eligible for every model. */
  readonly models: readonly string[] | null;
  /** Its health: the one set of flags every view reads (see BackendState). */
  readonly health: HealthFlags;
  /** The last active health check, for /healthz; null before the first (or with active checks off). */
  readonly lastCheck: { readonly atMs: number; readonly result: string; readonly latencyMs: number } | null;
}

/** A backend's last check by URL: what a broadcast carries when nothing but the checks' records changed. */
export type CheckRecords = Array<[url: string, lastCheck: FleetBackend['lastCheck']]>;

export interface FleetState {
  readonly backends: readonly FleetBackend[];
  /** The union of the up backends' model cards, each id once, as GET /v1/models answers it. */
  readonly modelCards: readonly Record<string, unknown>[];
}

/** Why live traffic takes a backend out of selection (backend_ejections_total{reason}, with health_check from the prober). */
type OutReason = 'max_fails' | 'retry_after';

export interface BackendOut {
  readonly url: string;
  readonly reason: OutReason;
  /** For retry_after: the backend's own Retry-After, in ms. */
  readonly forMs: number;
}
