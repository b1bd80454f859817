import { type BackendStatus, type HealthFlags, statusOf } from './backend-state.js';
import type { FleetBackend } from './fleet.js';
import type { WorkerInfo } from './ipc.js';

/** The /healthz body (besides `status`): the same shape from a worker and from the primary's metrics port. */
export function healthBody(
  workersAlive: number,
  startedAtMs: number,
  pid: number,
  workers: readonly WorkerInfo[],
): Record<string, unknown> {
  const now = Date.now();
  return {
    workersAlive,
    uptimeSeconds: Math.round((now - startedAtMs) / 1000),
    /** The process that answered. */
    pid,
    workers: workers.map((w) => ({ id: w.id, pid: w.pid, state: w.state, uptimeSeconds: Math.round((now - w.startedAtMs) / 1000) })),
  };
}

/** One backend as /healthz lists it. */
export interface BackendHealth {
  readonly url: string;
  /** up; down (its active checks fail); ejected (live traffic's failures, for a while); held (its own Retry-After). */
  readonly state: BackendStatus;
  /** Attempts in progress on it over all workers. */
  readonly inFlight: number;
  readonly weight: number;
  readonly models: readonly string[] | null;
  readonly lastCheck: { readonly ageSeconds: number; readonly result: string; readonly latencyMs: number } | null;
}

/**
 * The backends part of /healthz, and whether any backend is up (200) or none (503, so a load balancer goes
 * elsewhere). `healthOf` gives the flags this view holds for a backend: a worker's own (its immediate
 * verdicts merged with the primary's), or the primary's.
 */
export function fleetHealth(
  backends: readonly FleetBackend[],
  inFlight: (url: string) => number,
  healthOf: (backend: FleetBackend) => HealthFlags = (backend) => backend.health,
  nowMs = Date.now(),
): { anyUp: boolean; backends: BackendHealth[] } {
  let anyUp = false;
  const list = backends.map((b): BackendHealth => {
    const state = statusOf(healthOf(b), nowMs);
    anyUp ||= state === 'up' || state === 'held';
    const check = b.lastCheck;
    return {
      url: b.url,
      state,
      inFlight: inFlight(b.url),
      weight: b.weight,
      models: b.models,
      lastCheck:
        check === null
          ? null
          : { ageSeconds: Math.round((nowMs - check.atMs) / 100) / 10, result: check.result, latencyMs: check.latencyMs },
    };
  });
  return { anyUp, backends: list };
}
