import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { cpuSecondsBetween, type SystemSample, sampleSystem, sampleTree, type TreeSample } from './proc-cpu.js';

/** Where the CPU went over one measured window, for the proxy under test, the backend, this process and the machine. */
export interface CpuUse {
  /** Wall seconds of the window. */
  wall: number;
  /** Process-tree CPU seconds; null for no proxy, or when a process of the tree came or went. */
  proxyCpu: number | null;
  backendCpu: number | null;
  /** The proxy's tree at the end of the window (RSS, process count). */
  proxyAfter: TreeSample | null;
  /** The load generator: this process. Percent of one core. */
  loadgenCpuPct: number;
  /** Percent of the whole machine (all cores). */
  machineBusyPct: number;
  /** Percent of one core used by everything but the three measured parties. */
  otherCpuPct: number;
  /** Part of "other": irq + softirq time (loopback networking), percent of one core. */
  interruptCpuPct: number;
}

export interface CpuWindow {
  /** The proxy's tree at the start, null without a proxy. */
  readonly proxyBefore: TreeSample | null;
  end(): CpuUse;
}

/** Samples the proxy's and the backend's process trees, the machine and this process now; end() samples them again. */
export function startCpuWindow(proxyPid: number | null, backendPid: number): CpuWindow {
  const proxyBefore = proxyPid === null ? null : sampleTree(proxyPid);
  const backendBefore = sampleTree(backendPid);
  const systemBefore = sampleSystem();
  const loadgenBefore = process.cpuUsage();
  const start = performance.now();
  const end = (): CpuUse => {
    const wall = (performance.now() - start) / 1000;
    const loadgen = process.cpuUsage(loadgenBefore);
    const systemAfter = sampleSystem();
    const backendAfter = sampleTree(backendPid);
    const proxyAfter = proxyPid === null ? null : sampleTree(proxyPid);
    const proxyCpu = proxyBefore === null || proxyAfter === null ? null : cpuSecondsBetween(proxyBefore, proxyAfter);
    const backendCpu = cpuSecondsBetween(backendBefore, backendAfter);
    const loadgenCpuPct = ((loadgen.user + loadgen.system) / 1e6 / wall) * 100;
    return {
      wall,
      proxyCpu,
      backendCpu,
      proxyAfter,
      loadgenCpuPct,
      ...machineShare(systemBefore, systemAfter, wall, loadgenCpuPct, proxyCpu, backendCpu),
    };
  };
  return { proxyBefore, end };
}

function machineShare(
  before: SystemSample,
  after: SystemSample,
  wall: number,
  loadgenCpuPct: number,
  proxyCpu: number | null,
  backendCpu: number | null,
): Pick<CpuUse, 'machineBusyPct' | 'otherCpuPct' | 'interruptCpuPct'> {
  const ticks = Math.max(1, after.total - before.total);
  const machineBusyPct = ((after.busy - before.busy) / ticks) * 100;
  const interruptCpuPct = ((after.interrupts - before.interrupts) / ticks) * 100 * cpus().length;
  const ownCpuPct = loadgenCpuPct + (pctOfCore(backendCpu, wall) ?? 0) + (pctOfCore(proxyCpu, wall) ?? 0);
  return { machineBusyPct, otherCpuPct: Math.max(0, machineBusyPct * cpus().length - ownCpuPct), interruptCpuPct };
}

/** CPU seconds over `wall` seconds as percent of one core. */
export function pctOfCore(cpuSeconds: number | null, wall: number): number | null {
  return cpuSeconds === null ? null : (cpuSeconds / wall) * 100;
}

/** CPU µs per request or per token. */
export function usPer(cpuSeconds: number | null, count: number): number | null {
  return cpuSeconds === null || count === 0 ? null : (cpuSeconds * 1e6) / count;
}
