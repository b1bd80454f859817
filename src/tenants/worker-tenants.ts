import type { Registry } from 'prom-client';
import type { Config } from '../config/types.js';
import { createTenantWorkerMetrics } from '../metrics/tenant-metrics.js';
import { AdmissionClient } from './admission-client.js';
import type { TenantWorkerMessage } from './admission-messages.js';
import { TenantGate } from './tenant-gate.js';

/** Beyond the primary's longest decision (two Redis timeouts: a lease, and the one it may wait behind). */
const ADMISSION_MARGIN_MS = 1_000;

/** A worker's tenant gate and its admission client (answers come in through `client.onMessage`). */
export function createWorkerTenants(
  config: Config,
  registry: Registry,
  send: (message: TenantWorkerMessage) => boolean,
): { gate: TenantGate; client: AdmissionClient } {
  const client = new AdmissionClient(send, 2 * config.redisTimeoutMs + ADMISSION_MARGIN_MS);
  let gate: TenantGate | null = null;
  const metrics = createTenantWorkerMetrics(registry, () => gate?.flush());
  gate = new TenantGate(
    {
      keys: config.keys,
      apiKeyDigests: config.apiKeyDigests,
      allowAdminRoutes: config.allowAdminRoutes,
      defaultMaxTokens: config.defaultMaxTokens,
    },
    metrics,
    client,
  );
  return { gate, client };
}
