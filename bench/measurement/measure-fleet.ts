import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { parsePromText } from '../../src/metrics/prom-text.js';
import type { Server } from '../targets/start-child.js';
import { startProxy } from '../targets/targets.js';
import {
  FLEET_CHAT_BODY,
  FLEET_WORKERS,
  fleetHosts,
  IDLE_S,
  REQUESTS_PER_BACKEND,
  SCRAPE_MAX_S,
  SCRAPES,
  SETTLE_MS,
  TRAFFIC_CONCURRENCY,
} from '../workloads/fleet-workload.js';
import { curlScrape, type Scrape } from './measure-scrapes.js';
import { childPids, cpuNsOf, rssKbOf } from './proc-cpu.js';
import { median } from './stats.js';

const CHAT_TIMEOUT_MS = 30_000;
/** The read of /metrics that counts the series: Prometheus' own patience would be 10 s; ours is the bench's. */
const SERIES_READ_TIMEOUT_MS = SCRAPE_MAX_S * 1000;
/** Reads of /metrics to count the series: the build before issue 18 could answer 503 to one. */
const SERIES_READS = 3;

/** One fleet size, measured on a fresh proxy. */
export interface FleetRun {
  backends: number;
  /** 1, 5 and 15 min load averages when this size started. */
  loadAvg: number[];
  chats: number;
  chatFailures: number;
  /** Sample lines of /metrics (every bucket, _sum and _count counted); null when no read answered 200. */
  series: number | null;
  /** Of those, the lines of the first backend (it served chat only). */
  seriesPerBackend: number | null;
  bytes: number | null;
  /** Statuses of the untimed reads that did not answer 200 (0: no answer in time). */
  failedReads: number[];
  scrapes: Scrape[];
  scrapeMedianMs: number;
  /** CPU of the primary (and of all workers) over the timed scrapes, less its idle rate, per scrape. */
  primaryCpuMsPerScrape: number;
  workersCpuMsPerScrape: number;
  primaryRssMb: number;
  /** Mean over the workers. */
  workerRssMb: number;
  /** Percent of one core over IDLE_S s without traffic or scrapes: every proxy process, the primary, the workers. */
  idleCpuPct: number;
  idlePrimaryPct: number;
  idleWorkersPct: number;
}

/** The addresses' URLs on the mock backend's port, comma-separated for --backend-url. */
function fleetBackendUrls(backendUrl: string, size: number): string {
  const port = new URL(backendUrl).port;
  return fleetHosts(size)
    .map((host) => `http://${host}:${port}`)
    .join(',');
}

/** The proxy in front of `size` backends: 2 workers, access log off, `routing` (round-robin: every backend alike). */
export function startFleetProxy(name: string, backend: Server, size: number, logPath: string, routing: string): Promise<Server> {
  return startProxy({
    name,
    backendUrl: fleetBackendUrls(backend.url, size),
    workers: FLEET_WORKERS,
    logPath,
    extraArgs: ['--routing', routing, '--access-log', 'off'],
  });
}

/** `count` streamed chats, TRAFFIC_CONCURRENCY at a time, each read to its end; the number that failed. */
async function sendChats(url: string, count: number): Promise<number> {
  const agent = new Agent({ connections: TRAFFIC_CONCURRENCY });
  let next = 0;
  let failures = 0;
  const client = async (): Promise<void> => {
    while (next < count) {
      next++;
      try {
        const res = await request(`${url}/v1/chat/completions`, {
          method: 'POST',
          body: FLEET_CHAT_BODY,
          headers: { 'content-type': 'application/json' },
          dispatcher: agent,
          signal: AbortSignal.timeout(CHAT_TIMEOUT_MS),
        });
        await res.body.text();
        if (res.statusCode !== 200) failures++;
      } catch {
        failures++;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: TRAFFIC_CONCURRENCY }, client));
  } finally {
    await agent.close();
  }
  return failures;
}

function cpuNs(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) total += cpuNsOf(pid);
  return total;
}

interface SeriesCount {
  series: number | null;
  seriesPerBackend: number | null;
  bytes: number | null;
  /** Statuses of the reads that failed before one answered 200 (or of all SERIES_READS when none did). */
  failedReads: number[];
}

/** Reads /metrics (untimed, up to SERIES_READS times until one answers 200) and counts its sample lines, in all and of one backend. */
async function countSeries(url: string, firstBackend: string): Promise<SeriesCount> {
  const failedReads: number[] = [];
  for (let i = 0; i < SERIES_READS; i++) {
    try {
      const res = await request(`${url}/metrics`, { signal: AbortSignal.timeout(SERIES_READ_TIMEOUT_MS) });
      const text = await res.body.text();
      if (res.statusCode === 200) return { ...countLines(text, firstBackend), failedReads };
      failedReads.push(res.statusCode);
    } catch {
      failedReads.push(0);
    }
  }
  return { series: null, seriesPerBackend: null, bytes: null, failedReads };
}

function countLines(text: string, firstBackend: string): { series: number; seriesPerBackend: number; bytes: number } {
  let series = 0;
  let seriesPerBackend = 0;
  for (const samples of parsePromText(text).values()) {
    for (const sample of samples) {
      series++;
      if (sample.labels.url === firstBackend) seriesPerBackend++;
    }
  }
  return { series, seriesPerBackend, bytes: Buffer.byteLength(text) };
}

/**
 * One fleet size: a fresh proxy in front of `size` backends gets REQUESTS_PER_BACKEND streamed chats per
 * backend, rests IDLE_S s (idle CPU), has its series counted, then SCRAPES timed scrapes (curl, in sequence).
 */
export async function measureFleet(backend: Server, size: number, logPath: string): Promise<FleetRun> {
  const loadAvg = loadavg();
  const proxy = await startFleetProxy(`fleet-${size}`, backend, size, logPath, 'round-robin');
  try {
    const chats = size * REQUESTS_PER_BACKEND;
    const chatFailures = await sendChats(proxy.url, chats);
    await sleep(SETTLE_MS);
    const workers = childPids(proxy.pid);
    if (workers.length !== FLEET_WORKERS) throw new Error(`fleet-${size}: ${workers.length} workers, expected ${FLEET_WORKERS}`);

    const idleStart = performance.now();
    const primaryIdle0 = cpuNsOf(proxy.pid);
    const workersIdle0 = cpuNs(workers);
    await sleep(IDLE_S * 1000);
    const idleWallNs = (performance.now() - idleStart) * 1e6;
    const primaryIdleNs = cpuNsOf(proxy.pid) - primaryIdle0;
    const workersIdleNs = cpuNs(workers) - workersIdle0;

    const firstBackend = fleetBackendUrls(backend.url, 1);
    const counted = await countSeries(proxy.url, firstBackend);

    const scrapeStart = performance.now();
    const primary0 = cpuNsOf(proxy.pid);
    const workers0 = cpuNs(workers);
    const scrapes: Scrape[] = [];
    for (let i = 0; i < SCRAPES; i++) scrapes.push(await curlScrape(`${proxy.url}/metrics`, SCRAPE_MAX_S));
    const scrapeWallNs = (performance.now() - scrapeStart) * 1e6;
    // The idle rate (the dashboard's sampling, probes) ran during the scrapes too: take it out.
    const primaryNs = cpuNsOf(proxy.pid) - primary0 - (primaryIdleNs / idleWallNs) * scrapeWallNs;
    const workersNs = cpuNs(workers) - workers0 - (workersIdleNs / idleWallNs) * scrapeWallNs;

    return {
      backends: size,
      loadAvg,
      chats,
      chatFailures,
      ...counted,
      scrapes,
      scrapeMedianMs: median(scrapes.map((s) => s.ms)),
      primaryCpuMsPerScrape: primaryNs / 1e6 / SCRAPES,
      workersCpuMsPerScrape: workersNs / 1e6 / SCRAPES,
      primaryRssMb: rssKbOf([proxy.pid]) / 1024,
      workerRssMb: rssKbOf(workers) / 1024 / workers.length,
      idleCpuPct: ((primaryIdleNs + workersIdleNs) / idleWallNs) * 100,
      idlePrimaryPct: (primaryIdleNs / idleWallNs) * 100,
      idleWorkersPct: (workersIdleNs / idleWallNs) * 100,
    };
  } finally {
    await proxy.stop();
  }
}
