import { collectDefaultMetrics, type Registry } from 'prom-client';

// prom-client names three gauges with a _total suffix, which `promtool check metrics` rejects; the
// same values stay available per type as nodejs_active_handles, nodejs_active_requests and nodejs_active_resources.
const NON_COUNTER_TOTALS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** prom-client's process and Node.js metrics, minus the names Prometheus tooling rejects. */
export function registerDefaultMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const name of NON_COUNTER_TOTALS) registry.removeSingleMetric(name);
}
