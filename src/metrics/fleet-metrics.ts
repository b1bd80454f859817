import { Counter, Gauge, type Registry } from 'prom-client';

/** Results of an active health check (backend_health_checks_total{result}). */
export const HEALTH_RESULTS = ['ok', 'http_error', 'timeout', 'unreachable'] as const;
export type HealthResult = (typeof HEALTH_RESULTS)[number];

/** Why a backend was taken out of selection (backend_ejections_total{reason}). */
export const EJECTION_REASONS = ['health_check', 'max_fails', 'retry_after'] as const;

/**
 * The fleet as the primary knows it: one prober per proxy, so these live in the primary's registry
 * only and are never summed over workers.
 */
export interface FleetMetrics {
  readonly up: Gauge<'url'>;
  readonly weight: Gauge<'url'>;
  readonly models: Gauge<'url' | 'model'>;
  readonly healthChecks: Counter<'url' | 'result'>;
  readonly ejections: Counter<'url' | 'reason'>;
}

export function createFleetMetrics(registry: Registry): FleetMetrics {
  const registers = [registry];
  return {
    up: new Gauge({
      name: 'backend_up',
      help: 'Whether the backend takes new requests: 1 when its active health checks pass and live traffic has not taken it out, else 0.',
      labelNames: ['url'],
      registers,
    }),
    weight: new Gauge({
      name: 'backend_weight',
      help: 'The configured weight of the backend (its relative share of traffic).',
      labelNames: ['url'],
      registers,
    }),
    models: new Gauge({
      name: 'backend_models',
      help: 'One series per model a backend serves (configured, or read from its GET /v1/models), always 1.',
      labelNames: ['url', 'model'],
      registers,
    }),
    healthChecks: new Counter({
      name: 'backend_health_checks_total',
      help: 'Active health checks by result: ok (2xx), http_error (another status), timeout (--health-timeout), unreachable.',
      labelNames: ['url', 'result'],
      registers,
    }),
    ejections: new Counter({
      name: 'backend_ejections_total',
      help: 'Times a backend was taken out of selection: health_check (active checks failed), max_fails (live traffic failed --max-fails times in a row), retry_after (it asked for a pause).',
      labelNames: ['url', 'reason'],
      registers,
    }),
  };
}
