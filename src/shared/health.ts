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
