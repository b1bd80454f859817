import { request } from 'undici';
import {
  type BackendState,
  backendRows,
  formatSeconds,
  formatShare,
  rowName,
  stateSummary,
  TABLE_WINDOW_MS,
} from '../dashboard/backend-table.js';
import { type DashboardHistory, DashboardSeries, QUANTILE_WINDOW_MS, readDashboard } from '../dashboard/dashboard-series.js';
import { histogramBuckets, histogramQuantile, type PromSamples, parsePromText, sumSamples } from '../metrics/prom-text.js';
import { alignColumns } from './align-columns.js';

/** `node dist/src/ctl/status-report.js <proxy base URL>`: the lines `proxy_ctl.sh status` prints after its own two. */
const TIMEOUT_MS = 3_000;
const TABLE_HEAD = ['backend', 'state', 'in flight', 'share', 'p50 TTFT'];

interface Health {
  status?: string;
  workersAlive: number;
  uptimeSeconds: number;
  primaryPid?: number;
  workers?: Array<{ id: number; pid: number; state: string; uptimeSeconds: number }>;
  backends?: BackendState[];
}

async function get(url: string): Promise<{ status: number; text: string }> {
  const res = await request(url, { headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS, signal: AbortSignal.timeout(TIMEOUT_MS) });
  return { status: res.statusCode, text: await res.body.text() };
}

/** p99 and p50 of a histogram summed over every label set, and how many observations it holds. */
function quantiles(metrics: PromSamples, name: string): { p99: number | null; p50: number | null; count: number } {
  const buckets = histogramBuckets(metrics, name);
  return {
    p99: histogramQuantile(0.99, buckets),
    p50: histogramQuantile(0.5, buckets),
    count: buckets.get(Number.POSITIVE_INFINITY) ?? 0,
  };
}

const duration = (seconds: number): string =>
  seconds >= 3600
    ? `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`
    : seconds >= 60
      ? `${Math.floor(seconds / 60)}m ${seconds % 60}s`
      : `${seconds}s`;

/**
 * One row per backend. The proxy's own view, not probes of ours: the states are its health checks' and
 * live traffic's verdicts (/healthz), with its --health-path, for the backends of its flags, config file
 * and DNS. The figures continue the primary's dashboard history (10 s points over 15 minutes) with this
 * scrape, computed as the dashboard computes them: shares over the last minute up to now, p50 TTFT over
 * the last 30 s (the history keeps quantiles per point, not buckets, so the dashboard's window it is).
 */
function backendTable(history: DashboardHistory, metrics: PromSamples, states: readonly BackendState[]): string[] {
  const series = new DashboardSeries();
  for (const reading of history.readings) series.resume(reading);
  // On the primary's clock, after its newest reading (the scrape came after it): the interval's length is all that counts.
  const t = Math.max(history.now, (series.last()?.t ?? 0) + 1);
  const rows = backendRows([...history.points, series.add(readDashboard(metrics, t))], states);
  const cells = rows.map((row) => [
    rowName(row.url),
    row.state,
    row.inFlight === null ? '-' : String(row.inFlight),
    formatShare(row.share),
    formatSeconds(row.ttftP50S),
  ]);
  const windows = `share of the requests answered in the last ${TABLE_WINDOW_MS / 1000} s, p50 time to first token over the last ${QUANTILE_WINDOW_MS / 1000} s`;
  return [`backends: ${stateSummary(states)} (${windows})`, ...alignColumns([TABLE_HEAD, ...cells], 2).map((line) => `  ${line}`)];
}

async function main(): Promise<number> {
  const [base] = process.argv.slice(2);
  if (base === undefined) {
    console.error('usage: status-report <proxy base URL>');
    return 2;
  }
  const [health, history] = await Promise.all([get(`${base}/healthz`), get(`${base}/dashboard/history`)]);
  // After the history, so that this scrape continues from its newest reading: no request left out or counted twice.
  const metricsText = await get(`${base}/metrics`);
  const h = JSON.parse(health.text) as Health;
  const lines = [
    `primary pid ${h.primaryPid ?? '?'}, up ${duration(h.uptimeSeconds)}, status ${h.status ?? '?'}${health.status === 200 ? '' : ` (HTTP ${health.status})`}`,
  ];
  const workers = (h.workers ?? []).map((w) => `#${w.id} pid ${w.pid} ${w.state} up ${duration(w.uptimeSeconds)}`);
  lines.push(`workers: ${h.workersAlive} alive${workers.length ? `: ${workers.join(', ')}` : ''}`);
  const metrics = parsePromText(metricsText.text);
  const inFlight = sumSamples(metrics, 'in_flight_requests');
  const limit = sumSamples(metrics, 'in_flight_limit');
  lines.push(
    `traffic: ${inFlight} in flight (limit ${limit}), ${sumSamples(metrics, 'input_qps').toFixed(1)} req/s in, ${sumSamples(metrics, 'output_qps').toFixed(1)} req/s out (last 10 s)`,
  );
  const ttft = quantiles(metrics, 'time_to_first_token_seconds');
  lines.push(
    ttft.p99 === null
      ? 'time to first token: no streamed completion yet'
      : `time to first token: p99 ${ttft.p99.toFixed(3)} s, p50 ${(ttft.p50 ?? 0).toFixed(3)} s (since start, ${ttft.count} streams)`,
  );
  if (history.status !== 200) lines.push(`backends: no dashboard history (HTTP ${history.status})`);
  else lines.push(...backendTable(JSON.parse(history.text) as DashboardHistory, metrics, h.backends ?? []));
  console.log(lines.join('\n'));
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`status: cannot read the proxy (${(err as { code?: string }).code ?? (err as Error).message})`);
    process.exit(4);
  },
);
