import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { run } from '../../support/processes.js';
import type { BenchArgs } from '../bench-args.js';
import type { Server } from '../targets/start-child.js';
import { WORKLOADS } from '../workloads/workloads.js';
import { pctOfCore, usPer } from './cpu-window.js';
import { cannonOptions } from './measure-http.js';
import { cpuSecondsBetween, sampleTree } from './proc-cpu.js';
import { median } from './stats.js';

/** /metrics scrapes timed, with the proxy idle and then under the chat load. */
export const SCRAPES = 10;
const CURL_MAX_TIME_S = 10;
/** Beyond curl's own bound: the time to start it. */
const CURL_START_MS = 5_000;
/** The chat load is up after this. */
const LOAD_RAMP_MS = 1000;

export interface ScrapeTiming {
  scrapes: number;
  statuses: number[];
  p50Ms: number;
  maxMs: number;
  bytes: number;
  /** Proxy process-tree CPU over the scrape window. */
  proxyCpuPct: number | null;
  proxyCpuMs: number | null;
  /** Under load only: chat responses completed inside the window, and proxy CPU per response. */
  reqPerSec: number | null;
  proxyCpuUsPerReq: number | null;
}

export interface ScrapeReport {
  target: string;
  idle: ScrapeTiming;
  busy: ScrapeTiming;
}

export interface Scrape {
  status: number;
  ms: number;
  bytes: number;
}

/**
 * One GET /metrics by curl (a separate process, so the load generator's event loop is not in the timing).
 * A scrape past `maxTimeS` (curl exit 28) is status 0, timed at the bound.
 */
export async function curlScrape(url: string, maxTimeS = CURL_MAX_TIME_S): Promise<Scrape> {
  const format = '%{http_code} %{time_total} %{size_download}';
  const args = ['-s', '-o', '/dev/null', '--max-time', String(maxTimeS), '-w', format, url];
  const { code, stdout, stderr } = await run('curl', args, {}, maxTimeS * 1000 + CURL_START_MS);
  if (code === 28) return { status: 0, ms: maxTimeS * 1000, bytes: 0 };
  if (code !== 0) throw new Error(`curl ${url} exited with ${code}: ${stderr.trim()}`);
  const [status, seconds, bytes] = stdout.trim().split(' ').map(Number);
  return { status: status ?? 0, ms: (seconds ?? 0) * 1000, bytes: bytes ?? 0 };
}

/** SCRAPES scrapes `spacingMs` apart (back to back when 0), with the proxy's CPU over them. */
async function timeScrapes(proxy: Server, spacingMs: number, responsesSoFar: () => number): Promise<ScrapeTiming> {
  const before = sampleTree(proxy.pid);
  const responsesBefore = responsesSoFar();
  const start = performance.now();
  const results: Scrape[] = [];
  for (let i = 0; i < SCRAPES; i++) {
    const at = performance.now();
    results.push(await curlScrape(`${proxy.url}/metrics`));
    if (spacingMs > 0) await sleep(Math.max(0, at + spacingMs - performance.now()));
  }
  const wall = (performance.now() - start) / 1000;
  const after = sampleTree(proxy.pid);
  const responses = responsesSoFar() - responsesBefore;
  const cpu = cpuSecondsBetween(before, after);
  const ms = results.map((r) => r.ms);
  return {
    scrapes: results.length,
    statuses: [...new Set(results.map((r) => r.status))],
    p50Ms: median(ms),
    maxMs: Math.max(...ms),
    bytes: median(results.map((r) => r.bytes)),
    proxyCpuPct: pctOfCore(cpu, wall),
    proxyCpuMs: cpu === null ? null : cpu * 1000,
    reqPerSec: spacingMs > 0 ? responses / wall : null,
    proxyCpuUsPerReq: spacingMs === 0 ? null : usPer(cpu, responses),
  };
}

/** /metrics on target `name` (proxy-2w): idle, then while the chat workload keeps its workers busy. */
export async function measureScrapes(name: string, proxy: Server, args: BenchArgs): Promise<ScrapeReport> {
  const idle = await timeScrapes(proxy, 0, () => 0);
  let responses = 0;
  let settle: (err: unknown, result: autocannon.Result) => void = () => {};
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    settle = (err, result) => (err ? reject(err) : resolve(result));
  });
  const options = cannonOptions(proxy.url, WORKLOADS.chat, args.duration + 2, args.connections);
  const instance = autocannon(options, (err, result) => settle(err, result));
  instance.on('response', () => {
    responses++;
  });
  await sleep(LOAD_RAMP_MS);
  const busy = await timeScrapes(proxy, (args.duration * 1000) / SCRAPES, () => responses);
  await done;
  return { target: name, idle, busy };
}
