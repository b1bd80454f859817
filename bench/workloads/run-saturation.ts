import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import type { EngineStats } from '../../src/mock-backend/engine-scheduler.js';
import { type EngineReadCost, measureEngineReadCost, renderEngineReadCost } from '../measurement/engine-read-cost.js';
import { renderSaturationSection } from '../report/saturation-section.js';
import type { Server } from '../targets/start-child.js';
import { startEngineBackend, startProxy } from '../targets/targets.js';
import type { RunContext } from './run-context.js';
import { driveSaturation, type Tenant, type TenantLoad } from './saturation-client.js';

/** The fleet of the saturation workload (issue 21 point 5): 4 engines of 8 slots, 200 ms of prefill, 100 tokens at 20 ms. */
export const ENGINES = 4;
export const SLOTS = 8;
export const PREFILL_MS = 200;
export const TOKENS = 100;
export const TOKEN_DELAY_MS = 20;
/** A slot is held from admission to the last token: the prefill, then 99 gaps. */
const SEQUENCE_MS = PREFILL_MS + (TOKENS - 1) * TOKEN_DELAY_MS;
/** Completions per second the fleet can serve. */
export const CAPACITY_PER_S = (ENGINES * SLOTS * 1000) / SEQUENCE_MS;
const LOADS = [0.5, 2] as const;
/** The interactive tenant's share of the requests. */
const INTERACTIVE_SHARE = 0.1;
const WARMUP_MS = 10_000;
/** Requests of the window still running this long after it are abandoned (queue off at 2× drains slowly). */
const DRAIN_MS = 120_000;
const PROXY_WORKERS = 2;

/** One way of running the proxy, as the report names it. */
export interface SaturationVariant {
  readonly label: string;
  readonly args: readonly string[];
  /** Proxy instances in front of the same engines; the client alternates between them. */
  readonly instances: number;
  /** The loads it runs at. */
  readonly loads: readonly number[];
}

const SATURATION_VARIANTS: readonly SaturationVariant[] = [
  { label: 'queue on (defaults)', args: ['--routing', 'least-load'], instances: 1, loads: LOADS },
  { label: 'queue on, --saturation-waiting 0', args: ['--routing', 'least-load', '--saturation-waiting', '0'], instances: 1, loads: LOADS },
  { label: 'queue off (sending on)', args: ['--routing', 'least-load', '--queue', 'off'], instances: 1, loads: LOADS },
  { label: 'round-robin, queue off', args: ['--routing', 'round-robin', '--queue', 'off'], instances: 1, loads: LOADS },
  { label: 'queue on (defaults), two instances', args: ['--routing', 'least-load'], instances: 2, loads: [2] },
  {
    label: 'queue on, --saturation-waiting 0, two instances',
    args: ['--routing', 'least-load', '--saturation-waiting', '0'],
    instances: 2,
    loads: [2],
  },
];

/** What the engines did in the window, summed over them. */
interface EngineWindow {
  /** Mean sequences running per slot: the slot use. */
  readonly slotUse: number;
  /** Mean engine queue length, per engine. */
  readonly meanQueue: number;
  /** The longest queue any engine had in the window. */
  readonly maxQueue: number;
}

/** --saturation-sweep: how the engine read interval changes what two instances overshoot (the --load-interval default was chosen from these). */
const SATURATION_SWEEP: readonly SaturationVariant[] = [50, 250, 500].map((interval) => ({
  label: `queue on, --saturation-waiting 0, two instances, --load-interval ${interval}`,
  args: ['--routing', 'least-load', '--saturation-waiting', '0', '--load-interval', String(interval)],
  instances: 2,
  loads: [2],
}));

/** The variants a run takes part in. */
export function saturationVariants(sweep: boolean): readonly SaturationVariant[] {
  return sweep ? [...SATURATION_VARIANTS, ...SATURATION_SWEEP] : SATURATION_VARIANTS;
}

export interface SaturationRun {
  readonly variant: string;
  readonly load: number;
  readonly tenants: readonly TenantLoad[];
  readonly engines: EngineWindow;
  readonly windowS: number;
}

export interface SaturationResults {
  readonly runs: readonly SaturationRun[];
  readonly readCost: EngineReadCost;
  readonly section: string;
}

async function engineStats(engine: Server): Promise<EngineStats & { atMs: number }> {
  const res = await request(`${engine.url}/mock/stats`, { headersTimeout: 5_000, bodyTimeout: 5_000 });
  const stats = (await res.body.json()) as { engine: EngineStats };
  return { ...stats.engine, atMs: performance.now() };
}

function engineWindow(
  before: ReadonlyArray<EngineStats & { atMs: number }>,
  after: ReadonlyArray<EngineStats & { atMs: number }>,
): EngineWindow {
  let running = 0;
  let waiting = 0;
  let span = 0;
  let maxQueue = 0;
  after.forEach((a, i) => {
    const b = before[i] as EngineStats & { atMs: number };
    running += a.runningMs - b.runningMs;
    waiting += a.waitingMs - b.waitingMs;
    span += a.atMs - b.atMs;
    a.waitingTimeMs.forEach((ms, length) => {
      if (ms - (b.waitingTimeMs[length] ?? 0) > 0) maxQueue = Math.max(maxQueue, length);
    });
  });
  return { slotUse: running / (span * SLOTS), meanQueue: waiting / span, maxQueue };
}

function tenantsAt(load: number): Tenant[] {
  const rate = load * CAPACITY_PER_S;
  return [
    // Until keys carry classes, the two tenants are told apart by x-priority: standard (the default) is the
    // higher class here, batch the lower.
    { name: 'interactive', rate: rate * INTERACTIVE_SHARE, headers: {} },
    { name: 'batch', rate: rate * (1 - INTERACTIVE_SHARE), headers: { 'x-priority': 'batch' } },
  ];
}

/** One variant at one load: fresh engines and proxies, warm-up, the measured window, the drain. */
async function runOnce(context: RunContext, variant: SaturationVariant, load: number, seed: number): Promise<SaturationRun> {
  const dir = join(context.workDir, 'saturation');
  mkdirSync(dir, { recursive: true });
  const tag = `${variant.label.replace(/[^a-z0-9]+/gi, '-')}-${load}-${seed}`;
  const engines: Server[] = [];
  const proxies: Server[] = [];
  try {
    for (let i = 0; i < ENGINES; i++) {
      engines.push(
        await startEngineBackend(`engine-${i}`, join(dir, `${tag}-engine-${i}.log`), {
          maxNumSeqs: SLOTS,
          ttftMs: PREFILL_MS,
          tokenDelayMs: TOKEN_DELAY_MS,
        }),
      );
    }
    for (let i = 0; i < variant.instances; i++) {
      proxies.push(
        await startProxy({
          name: `saturation-${tag}-${i}`,
          backendUrl: engines.map((engine) => engine.url).join(','),
          workers: PROXY_WORKERS,
          logPath: join(dir, `${tag}-proxy-${i}.log`),
          extraArgs: variant.args,
        }),
      );
    }
    const windowMs = Math.max(context.args.duration, 20) * 1000;
    let before: Array<EngineStats & { atMs: number }> = [];
    let after: Array<EngineStats & { atMs: number }> = [];
    const readings = (async () => {
      await new Promise((resolve) => setTimeout(resolve, WARMUP_MS));
      before = await Promise.all(engines.map(engineStats));
      await new Promise((resolve) => setTimeout(resolve, windowMs));
      after = await Promise.all(engines.map(engineStats));
    })();
    const tenants = await driveSaturation({
      tenants: tenantsAt(load),
      warmupMs: WARMUP_MS,
      windowMs,
      drainMs: DRAIN_MS,
      maxTokens: TOKENS,
      seed,
      urls: proxies.map((proxy) => proxy.url),
    });
    await readings;
    return { variant: variant.label, load, tenants, engines: engineWindow(before, after), windowS: windowMs / 1000 };
  } finally {
    for (const proxy of proxies) context.exitCodes[proxy.name] = await proxy.stop();
    for (const engine of engines) await engine.stop();
  }
}

/** Every variant at every load of it, repetitions alternated; the runs' raw figures go to saturation.json in the work dir too. */
export async function runSaturationWorkload(context: RunContext): Promise<SaturationResults> {
  const runs: SaturationRun[] = [];
  for (let rep = 0; rep < context.args.reps; rep++) {
    for (const variant of saturationVariants(context.args.saturationSweep)) {
      for (const load of variant.loads) {
        console.error(`bench: ${context.progress()} saturation ${variant.label} at ${load}x`);
        runs.push(await runOnce(context, variant, load, 1 + rep));
      }
    }
  }
  writeFileSync(join(context.workDir, 'saturation.json'), JSON.stringify(runs, null, 2));
  // Measured with every engine and proxy stopped, so that nothing else runs beside the bench's process.
  const readCost = await measureEngineReadCost();
  return { runs, readCost, section: `${renderSaturationSection(runs, context.args.reps)}\n\n${renderEngineReadCost(readCost)}` };
}
