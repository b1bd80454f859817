import { request } from 'undici';
import { histogramBuckets, histogramQuantile, type PromSamples, parsePromText, sumSamples } from '../metrics/prom-text.js';

/** `node dist/src/ctl/status-report.js <proxy base URL> [backend URL]`: the few lines `proxy_ctl.sh status` prints. */
const TIMEOUT_MS = 3_000;

interface Health {
  workersAlive: number;
  uptimeSeconds: number;
  primaryPid?: number;
  workers?: Array<{ id: number; pid: number; state: string; uptimeSeconds: number }>;
}

async function get(url: string): Promise<{ status: number; text: string; ms: number }> {
  const started = performance.now();
  const res = await request(url, { headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS, signal: AbortSignal.timeout(TIMEOUT_MS) });
  const text = await res.body.text();
  return { status: res.statusCode, text, ms: performance.now() - started };
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

async function backendLine(backendUrl: string): Promise<string> {
  try {
    const answer = await get(`${backendUrl.replace(/\/+$/, '')}/health`);
    const ok = answer.status < 500;
    return `backend ${backendUrl}: ${ok ? 'reachable' : 'answering with errors'} (GET /health ${answer.status} in ${answer.ms.toFixed(0)} ms)`;
  } catch (err) {
    return `backend ${backendUrl}: UNREACHABLE (${(err as { code?: string }).code ?? (err as Error).message})`;
  }
}

async function main(): Promise<number> {
  const [base, backendUrl] = process.argv.slice(2);
  if (base === undefined) {
    console.error('usage: status-report <proxy base URL> [backend URL]');
    return 2;
  }
  const [health, metricsText] = await Promise.all([get(`${base}/healthz`), get(`${base}/metrics`)]);
  const h = JSON.parse(health.text) as Health;
  const lines = [
    `primary pid ${h.primaryPid ?? '?'}, up ${duration(h.uptimeSeconds)}, status ${health.status === 200 ? 'ok' : `HTTP ${health.status}`}`,
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
  if (backendUrl) lines.push(await backendLine(backendUrl));
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
