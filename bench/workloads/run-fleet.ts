import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { startCpuWindow, usPer } from '../measurement/cpu-window.js';
import { type FleetRun, measureFleet, startFleetProxy } from '../measurement/measure-fleet.js';
import { cannonOptions } from '../measurement/measure-http.js';
import { inRotation } from '../measurement/stats.js';
import { renderFleetSection, type SmallRun } from '../report/fleet-report.js';
import type { Server } from '../targets/start-child.js';
import { startBackend } from '../targets/targets.js';
import { fleetHosts, SMALL_SIZES } from './fleet-workload.js';
import type { RunContext } from './run-context.js';
import { WORKLOADS } from './workloads.js';

/** Closed connections of the warm-up are gone after this. */
const SETTLE_MS = 300;

export interface FleetResults {
  runs: FleetRun[];
  small: SmallRun[];
  section: string;
}

/** The sizes --backends asks for, and those of them whose small-request CPU is compared. */
function smallSizes(sizes: readonly number[]): number[] {
  return SMALL_SIZES.filter((size) => sizes.includes(size));
}

/**
 * The fleet workload: one mock backend process on as many loopback addresses as the largest fleet, then for
 * each size a fresh proxy (series, scrapes, idle CPU, memory), then the small-request CPU at 1 and 64
 * backends, both proxies up and their repetitions alternated.
 */
export async function runFleetWorkload(context: RunContext): Promise<FleetResults> {
  const sizes = context.args.backends;
  const largest = Math.max(...sizes);
  const backend = await startBackend(join(context.workDir, 'fleet-backend.log'), fleetHosts(largest), 'fleet-backend');
  const runs: FleetRun[] = [];
  const small: SmallRun[] = [];
  try {
    for (const size of sizes) {
      console.error(`bench: ${context.progress()} fleet ${size} backends`);
      const run = await measureFleet(backend, size, join(context.workDir, `fleet-${size}.log`));
      console.error(
        `bench: fleet ${size}: ${run.series} series, ${((run.bytes ?? 0) / 1e6).toFixed(2)} MB, scrape ${run.scrapeMedianMs.toFixed(0)} ms (${run.scrapes.map((s) => s.status).join(',')}), primary ${run.primaryCpuMsPerScrape.toFixed(1)} ms CPU per scrape, idle ${run.idleCpuPct.toFixed(1)}% of a core`,
      );
      runs.push(run);
    }
    small.push(...(await measureSmall(context, backend, smallSizes(sizes))));
  } finally {
    context.exitCodes[backend.name] = await backend.stop();
  }
  return { runs, small, section: renderFleetSection(runs, small, context.args) };
}

/** CPU per small request (GET /version, least-load) at each size, repetitions alternated. */
async function measureSmall(context: RunContext, backend: Server, sizes: readonly number[]): Promise<SmallRun[]> {
  if (sizes.length === 0) return [];
  const { args } = context;
  const proxies: Array<{ size: number; proxy: Server }> = [];
  const runs: SmallRun[] = [];
  try {
    for (const size of sizes) {
      const logPath = join(context.workDir, `fleet-small-${size}.log`);
      proxies.push({ size, proxy: await startFleetProxy(`fleet-small-${size}`, backend, size, logPath, 'least-load') });
    }
    for (let rep = 1; rep <= args.reps; rep++) {
      for (const { size, proxy } of inRotation(proxies, rep)) {
        console.error(`bench: ${context.progress()} fleet small ${size} backends rep ${rep}`);
        await autocannon(cannonOptions(proxy.url, WORKLOADS.small, args.warmup, args.connections));
        await sleep(SETTLE_MS);
        const window = startCpuWindow(proxy.pid, backend.pid);
        const result = await autocannon(cannonOptions(proxy.url, WORKLOADS.small, args.duration, args.connections));
        const cpu = window.end();
        const requests = result.requests.total;
        runs.push({ backends: size, rep, requests, non2xx: result.non2xx, proxyCpuUsPerReq: usPer(cpu.proxyCpu, requests) });
      }
    }
  } finally {
    for (const { proxy } of proxies) context.exitCodes[proxy.name] = await proxy.stop();
  }
  return runs;
}
