import { readdirSync } from 'node:fs';
import { request } from 'undici';
import { parsePromText, sumSamples } from '../../src/metrics/prom-text.js';
import type { HeapCollector } from './heap-collector.js';
import { childPids, rssKbOf } from './proc-cpu.js';

const SCRAPE_TIMEOUT_MS = 10_000;

export interface ProcessSample {
  pid: number;
  rssKb: number;
  fds: number;
  /** Heap in use right after a forced full collection; NaN with --gc off. */
  heapAfterGcBytes: number;
}

/** The proxy's processes, and its own /metrics, at one moment of quiet. */
export interface Snapshot {
  primary: ProcessSample;
  workers: ProcessSample[];
  metrics: Record<string, number>;
}

/** Read from /metrics at every snapshot, each summed over its label sets (the proxy already sums over its processes). */
const SCRAPED = [
  'process_resident_memory_bytes',
  'nodejs_heap_size_used_bytes',
  'nodejs_heap_size_total_bytes',
  'nodejs_external_memory_bytes',
  'nodejs_active_handles',
  'nodejs_active_requests',
  'process_open_fds',
  'in_flight_requests',
  'input_requests_total',
  'output_requests_total',
  'worker_restarts_total',
] as const;

/** RSS and open file descriptors of one process; throws when it is gone. */
export function processSample(pid: number): ProcessSample {
  return { pid, rssKb: rssKbOf([pid]), fds: readdirSync(`/proc/${pid}/fd`).length, heapAfterGcBytes: Number.NaN };
}

async function scrapeTotals(metricsUrl: string): Promise<Record<string, number>> {
  const res = await request(metricsUrl, { headersTimeout: SCRAPE_TIMEOUT_MS, bodyTimeout: SCRAPE_TIMEOUT_MS });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`GET ${metricsUrl}: ${res.statusCode}`);
  const samples = parsePromText(text);
  const metrics: Record<string, number> = {};
  for (const name of SCRAPED) {
    // A labelled gauge with no series yet (nodejs_active_requests when nothing is pending) is 0, an unknown name NaN.
    metrics[name] = samples.has(name) || text.includes(`# TYPE ${name} `) ? sumSamples(samples, name) : Number.NaN;
  }
  return metrics;
}

/** The primary and every worker, after the collector's full GCs when there is one, then /metrics. */
export async function takeSnapshot(primaryPid: number, metricsUrl: string, collector: HeapCollector | null): Promise<Snapshot> {
  const heaps = new Map<number, number>();
  if (collector !== null) for (const pid of [primaryPid, ...childPids(primaryPid)]) heaps.set(pid, await collector.collect(pid));
  const metrics = await scrapeTotals(metricsUrl);
  const sampled = (pid: number): ProcessSample => ({ ...processSample(pid), heapAfterGcBytes: heaps.get(pid) ?? Number.NaN });
  return { primary: sampled(primaryPid), workers: childPids(primaryPid).map(sampled), metrics };
}
