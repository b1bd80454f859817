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
  /** Its tenants: interactive and batch (10% and 90%), or two batch keys of equal weight, one offering 10× the other. */
  readonly mix?: 'two-batch';
  /** The engines order their own queues by vLLM's priority field (--scheduling-policy priority). */
  readonly enginePriority?: boolean;
}

const SATURATION_VARIANTS: readonly SaturationVariant[] = [
  { label: 'queue on (defaults)', args: ['--routing', 'least-load'], instances: 1, loads: LOADS },
  { label: 'queue on, --saturation-waiting 0', args: ['--routing', 'least-load', '--saturation-waiting', '0'], instances: 1, loads: LOADS },
  {
    label: 'queue on, --engine-priority on (engines schedule by priority)',
    args: ['--routing', 'least-load', '--engine-priority', 'on'],
    instances: 1,
    loads: LOADS,
    enginePriority: true,
  },
  { label: 'queue off (sending on)', args: ['--routing', 'least-load', '--queue', 'off'], instances: 1, loads: LOADS },
  { label: 'round-robin, queue off', args: ['--routing', 'round-robin', '--queue', 'off'], instances: 1, loads: LOADS },
  { label: 'queue on (defaults), two instances', args: ['--routing', 'least-load'], instances: 2, loads: [2] },
  {
    label: 'queue on, --saturation-waiting 0, two instances',
    args: ['--routing', 'least-load', '--saturation-waiting', '0'],
    instances: 2,
    loads: [2],
  },
  // Two batch keys of weight 1, at 6× and 0.6× capacity: both want more than half of the fleet.
  { label: 'queue on (defaults), two batch keys 10:1', args: ['--routing', 'least-load'], instances: 1, loads: [6.6], mix: 'two-batch' },
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
const SATURATION_SWEEP: readonly SaturationVariant[] = [50, 100, 500].map((interval) => ({
  label: `queue on, --saturation-waiting 0, two instances, --load-interval ${interval}`,
  args: ['--routing', 'least-load', '--saturation-waiting', '0', '--load-interval', String(interval)],
  instances: 2,
  loads: [2],
}));

/** The variants a run takes part in. */
export function saturationVariants(sweep: boolean, only: readonly string[] = []): readonly SaturationVariant[] {
  const all = sweep ? [...SATURATION_VARIANTS, ...SATURATION_SWEEP] : SATURATION_VARIANTS;
  return only.length === 0 ? all : all.filter((variant) => only.some((part) => variant.label.includes(part)));
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

/** Every tenant of the workload is a key of the config file, its class and weight there. */
const KEYS = [
  { name: 'interactive', priority: 'interactive' },
  { name: 'batch', priority: 'batch' },
  { name: 'batch-big', priority: 'batch' },
  { name: 'batch-small', priority: 'batch' },
] as const;

function keysFile(path: string): string {
  const entries = KEYS.map((key) => `  - { name: ${key.name}, key: ${key.name}-key, priority: ${key.priority}, weight: 1 }`);
  writeFileSync(path, ['keys:', ...entries, ''].join('\n'));
  return path;
}

function asKey(name: string): Record<string, string> {
  return { authorization: `Bearer ${name}-key` };
}

function tenantsAt(variant: SaturationVariant, load: number): Tenant[] {
  const rate = load * CAPACITY_PER_S;
  if (variant.mix === 'two-batch') {
    return [
      { name: 'batch-big', rate: (rate * 10) / 11, headers: asKey('batch-big') },
      { name: 'batch-small', rate: rate / 11, headers: asKey('batch-small') },
    ];
  }
  return [
    { name: 'interactive', rate: rate * INTERACTIVE_SHARE, headers: asKey('interactive') },
    { name: 'batch', rate: rate * (1 - INTERACTIVE_SHARE), headers: asKey('batch') },
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
          schedulingPolicy: variant.enginePriority === true ? 'priority' : 'fcfs',
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
          extraArgs: ['--config', keysFile(join(dir, 'keys.yaml')), ...variant.args],
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
      tenants: tenantsAt(variant, load),
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
    for (const variant of saturationVariants(context.args.saturationSweep, context.args.saturationOnly)) {
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
