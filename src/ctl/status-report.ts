import { request } from 'undici';

/** `node dist/src/ctl/status-report.js <proxy base URL> [backend URL]`: the few lines `proxy_ctl.sh status` prints. */
const TIMEOUT_MS = 3_000;

interface Sample {
  labels: Record<string, string>;
  value: number;
}

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

function parseMetrics(text: string): Map<string, Sample[]> {
  const out = new Map<string, Sample[]>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1] as string] = pair[2] as string;
    const list = out.get(match[1] as string) ?? [];
    list.push({ labels, value: Number(match[3]) });
    out.set(match[1] as string, list);
  }
  return out;
}

const sum = (metrics: Map<string, Sample[]>, name: string): number => (metrics.get(name) ?? []).reduce((total, s) => total + s.value, 0);

/** A quantile from cumulative buckets summed over every label set, interpolated as histogram_quantile does. */
function quantile(metrics: Map<string, Sample[]>, name: string, q: number): { value: number | null; count: number } {
  const byLe = new Map<string, number>();
  for (const s of metrics.get(`${name}_bucket`) ?? []) byLe.set(s.labels.le as string, (byLe.get(s.labels.le as string) ?? 0) + s.value);
  const count = byLe.get('+Inf') ?? 0;
  if (count === 0) return { value: null, count };
  const bounds = [...byLe.keys()]
    .filter((le) => le !== '+Inf')
    .map(Number)
    .sort((a, b) => a - b);
  const rank = q * count;
  let previousBound = 0;
  let previousCount = 0;
  for (const bound of bounds) {
    const cumulative = byLe.get(String(bound)) ?? 0;
    if (cumulative >= rank) {
      const inBucket = cumulative - previousCount;
      return { value: inBucket === 0 ? bound : previousBound + (bound - previousBound) * ((rank - previousCount) / inBucket), count };
    }
    previousBound = bound;
    previousCount = cumulative;
  }
  return { value: bounds.at(-1) ?? null, count };
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
  const metrics = parseMetrics(metricsText.text);
  const inFlight = sum(metrics, 'in_flight_requests');
  const limit = sum(metrics, 'in_flight_limit');
  lines.push(
    `traffic: ${inFlight} in flight (limit ${limit}), ${sum(metrics, 'input_qps').toFixed(1)} req/s in, ${sum(metrics, 'output_qps').toFixed(1)} req/s out (last 10 s)`,
  );
  const p99 = quantile(metrics, 'time_to_first_token_seconds', 0.99);
  const p50 = quantile(metrics, 'time_to_first_token_seconds', 0.5);
  lines.push(
    p99.value === null
      ? 'time to first token: no streamed completion yet'
      : `time to first token: p99 ${p99.value.toFixed(3)} s, p50 ${(p50.value ?? 0).toFixed(3)} s (since start, ${p99.count} streams)`,
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
