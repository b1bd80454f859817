import { collectDefaultMetrics, type Registry } from 'prom-client';

// prom-client names three gauges with a _total suffix, which `promtool check metrics` rejects; the
// same values stay available per type as nodejs_active_handles, nodejs_active_requests and nodejs_active_resources.
const NON_COUNTER_TOTALS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/**
 * How often the event-loop delay monitor behind nodejs_eventloop_lag_* samples, in ms. prom-client's 10 ms
 * default is a timer 100 times a second in every process, about 0.6% of a core each with nothing else to
 * do (issue 18: an idle proxy uses next to no CPU). At 50 ms a stall of 50 ms or more is always seen;
 * a shorter one is seen in proportion to its length.
 */
const EVENT_LOOP_SAMPLE_MS = 50;

/** prom-client's process and Node.js metrics, minus the names Prometheus tooling rejects. */
export function registerDefaultMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  for (const name of NON_COUNTER_TOTALS) registry.removeSingleMetric(name);
}
