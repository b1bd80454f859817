import type { BenchArgs } from '../bench-args.js';
import type { FleetRun } from '../measurement/measure-fleet.js';
import { medianOrNull } from '../measurement/stats.js';
import {
  CHAT_TOKENS,
  FLEET_WORKERS,
  IDLE_S,
  REQUESTS_PER_BACKEND,
  SCRAPE_MAX_S,
  SCRAPES,
  SETTLE_MS,
  TRAFFIC_CONCURRENCY,
} from '../workloads/fleet-workload.js';
import { fmt, markdownTable, ratio } from './markdown.js';

/** One measured window of small requests against the proxy in front of `backends` backends. */
export interface SmallRun {
  backends: number;
  rep: number;
  requests: number;
  non2xx: number;
  proxyCpuUsPerReq: number | null;
}

const FLEET_HEADER = [
  'backends',
  'series in /metrics',
  'of one backend',
  'exposition',
  'primary CPU per scrape',
  'workers CPU per scrape',
  `scrape answered in (median of ${SCRAPES})`,
  'statuses (all reads)',
  'primary RSS',
  'worker RSS (mean)',
  `idle CPU over ${IDLE_S} s (primary + workers)`,
  'load average (1 min)',
];

function fleetRow(run: FleetRun): string[] {
  const all = [...run.failedReads, ...(run.series === null ? [] : [200]), ...run.scrapes.map((s) => s.status)];
  const statuses = [...new Set(all.map((status) => (status === 0 ? `timeout ${SCRAPE_MAX_S} s` : String(status))))];
  return [
    fmt(run.backends),
    fmt(run.series),
    fmt(run.seriesPerBackend),
    run.bytes === null ? '–' : `${fmt(run.bytes / 1e6, 2)} MB`,
    `${fmt(run.primaryCpuMsPerScrape, 1)} ms`,
    `${fmt(run.workersCpuMsPerScrape, 1)} ms`,
    `${fmt(run.scrapeMedianMs, 0)} ms (${fmt(Math.min(...run.scrapes.map((s) => s.ms)), 0)}–${fmt(Math.max(...run.scrapes.map((s) => s.ms)), 0)})`,
    statuses.join(', '),
    `${fmt(run.primaryRssMb, 0)} MB`,
    `${fmt(run.workerRssMb, 0)} MB`,
    `${fmt(run.idleCpuPct, 1)}% (${fmt(run.idlePrimaryPct, 1)} + ${fmt(run.idleWorkersPct, 1)})`,
    fmt(run.loadAvg[0] ?? null, 2),
  ];
}

function smallRows(small: readonly SmallRun[]): string[][] {
  const sizes = [...new Set(small.map((run) => run.backends))];
  const medians = new Map(
    sizes.map((size) => [size, medianOrNull(small.filter((r) => r.backends === size).map((r) => r.proxyCpuUsPerReq))]),
  );
  const base = medians.get(sizes[0] as number) ?? null;
  return sizes.map((size) => {
    const runs = small.filter((r) => r.backends === size);
    return [
      fmt(size),
      String(runs.length),
      runs.map((r) => fmt(r.proxyCpuUsPerReq, 0)).join(', '),
      fmt(medians.get(size) ?? null, 0),
      ratio(medians.get(size) ?? null, base),
      fmt(runs.reduce((sum, r) => sum + r.non2xx, 0)),
    ];
  });
}

/** The fleet section of the report: one row per fleet size, then the small-request CPU. */
export function renderFleetSection(runs: readonly FleetRun[], small: readonly SmallRun[], args: BenchArgs): string {
  const parts = [
    '## fleet: the proxy itself as the fleet grows',
    '',
    `One mock backend process takes connections on as many loopback addresses as the largest fleet (127.0.0.1, 127.0.0.2, …), one backend URL each. For each size a fresh proxy (${FLEET_WORKERS} workers, \`--routing round-robin --access-log off\`, every other flag at its default) gets ${REQUESTS_PER_BACKEND} streamed chats per backend (${CHAT_TOKENS} tokens, no delays, ${TRAFFIC_CONCURRENCY} at a time), rests ${SETTLE_MS / 1000} s, then ${IDLE_S} s with no traffic and no scrape (idle CPU), then an untimed \`GET /metrics\` (tried up to 3 times until one answers 200; every status is in the table) (the series: every sample line, each bucket, _sum and _count counted; "of one backend" = the lines labelled with the first backend's url), then ${SCRAPES} scrapes by curl on the main port, one after the other (the worker that takes one asks the primary, which merges every worker's metrics). CPU per scrape = the process's CPU over those scrapes (/proc/<pid>/task/*/schedstat, ns) less its idle rate over the same time, divided by ${SCRAPES}. RSS after the scrapes. Latency is wall time on a shared 2-core machine: read it with the load average.`,
    '',
    markdownTable(FLEET_HEADER, runs.map(fleetRow)),
  ];
  if (small.length > 0) {
    parts.push(
      '',
      `### CPU per small request as the fleet grows`,
      '',
      `\`GET /version\` by autocannon (${args.connections} connections, ${args.warmup} s warm-up, ${args.duration} s measured) through a proxy in front of each size (${FLEET_WORKERS} workers, \`--routing least-load\` (the default: every request looks at every candidate), \`--access-log off\`); both proxies up at once, the repetitions alternated. CPU = the proxy's process tree, /proc/<pid>/stat.`,
      '',
      markdownTable(['backends', 'reps', 'CPU µs per request, each rep', 'median', 'vs the first', 'non-2xx'], smallRows(small)),
    );
  }
  return parts.join('\n');
}
