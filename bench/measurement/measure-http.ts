import { statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import type { BenchArgs } from '../bench-args.js';
import type { RunResult } from '../report/http-report.js';
import type { Server } from '../targets/start-child.js';
import type { Workload } from '../workloads/workloads.js';
import { pctOfCore, startCpuWindow, usPer } from './cpu-window.js';

/** A target of small/chat: the backend itself, or a proxy in front of it. */
export interface HttpTarget {
  name: string;
  url: string;
  proxy: Server | null;
  /** Headers every request to it carries besides the workload's (a key). */
  headers?: Record<string, string>;
}

/** Closed connections of the warm-up are gone after this. */
const SETTLE_MS = 300;
const REQUEST_TIMEOUT_S = 10;

export function cannonOptions(
  url: string,
  workload: Workload,
  seconds: number,
  connections: number,
  extraHeaders: Record<string, string> = {},
): autocannon.Options {
  const headers = { ...workload.headers, ...extraHeaders };
  return {
    url: url + workload.path,
    method: workload.method,
    connections,
    duration: seconds,
    timeout: REQUEST_TIMEOUT_S,
    ...(Object.keys(headers).length === 0 ? {} : { headers }),
    ...(workload.body === undefined ? {} : { body: workload.body }),
  };
}

function fire(
  url: string,
  workload: Workload,
  seconds: number,
  connections: number,
  headers?: Record<string, string>,
): Promise<autocannon.Result> {
  return autocannon(cannonOptions(url, workload, seconds, connections, headers));
}

/** One run: an uncounted warm-up, then args.duration seconds of autocannon with the CPU of every party around it. */
export async function measureHttp(
  target: HttpTarget,
  backend: Server,
  workload: Workload,
  rep: number,
  args: BenchArgs,
): Promise<RunResult> {
  await fire(target.url, workload, args.warmup, args.connections, target.headers);
  await sleep(SETTLE_MS);

  const accessLog = target.proxy?.accessLogPath ?? null;
  const logBefore = accessLog === null ? 0 : fileSize(accessLog);
  const cpuWindow = startCpuWindow(target.proxy?.pid ?? null, backend.pid);
  const result = await fire(target.url, workload, args.duration, args.connections, target.headers);
  const cpu = cpuWindow.end();
  const logAfter = accessLog === null ? 0 : fileSize(accessLog);

  const requests = result.requests.total;
  return {
    workload: workload.name,
    target: target.name,
    rep,
    duration: result.duration,
    wall: cpu.wall,
    requests,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    reqPerSec: requests / result.duration,
    latencyP50: result.latency.p50,
    latencyP99: result.latency.p99,
    latencyMean: result.latency.mean,
    proxyCpuUsPerReq: usPer(cpu.proxyCpu, requests),
    backendCpuUsPerReq: usPer(cpu.backendCpu, requests),
    proxyRssMb: cpu.proxyAfter === null ? null : cpu.proxyAfter.rssKb / 1024,
    proxyProcesses: cpu.proxyAfter === null ? null : cpu.proxyAfter.pids.length,
    proxyCpuPct: pctOfCore(cpu.proxyCpu, cpu.wall),
    backendCpuPct: pctOfCore(cpu.backendCpu, cpu.wall),
    loadgenCpuPct: cpu.loadgenCpuPct,
    machineBusyPct: cpu.machineBusyPct,
    otherCpuPct: cpu.otherCpuPct,
    accessLogBytesPerReq: accessLog === null || requests === 0 ? null : (logAfter - logBefore) / requests,
  };
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
