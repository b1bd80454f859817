import { join } from 'node:path';
import { request } from 'undici';
import { parsePromText, sumSamples } from '../../src/metrics/prom-text.js';
import type { Server } from '../targets/start-child.js';
import { startPrefixBackend, startProxy } from '../targets/targets.js';
import { driveRouting, type PromptMix, type RoutingLoad } from './routing-client.js';
import { PROMPT_BLOCKS, SYSTEM_BLOCKS } from './routing-prompts.js';
import type { RunContext } from './run-context.js';

/** The simulated fleet of the routing workload (issue 12 point 6). */
export const ROUTING_BACKENDS = 4;
export const PREFILL_BASE_MS = 15;
export const PREFILL_MS_PER_BLOCK = 3;
export const PREFILL_SLOTS = 4;
/** A cache of 24 prompts' worth of blocks per backend: 1.5 times a fair share of the 64 prompts. */
export const CACHE_PROMPTS = 24;
export const ROUTING_CLIENTS = 32;
export const TOKEN_DELAY_MS = 10;
const WARMUP_MS = 5_000;

/** One way of routing, as the report names it. */
export interface RoutingVariant {
  readonly label: string;
  readonly args: readonly string[];
}

export const MAIN_VARIANTS: readonly RoutingVariant[] = [
  { label: 'round-robin', args: ['--routing', 'round-robin'] },
  { label: 'least-load', args: ['--routing', 'least-load'] },
  { label: 'session', args: ['--routing', 'session'] },
  { label: 'prefix', args: ['--routing', 'prefix'] },
];

/** --routing-sweep: what the defaults were chosen from. */
export const SWEEP_VARIANTS: readonly RoutingVariant[] = [
  ...(['in-flight', 'prefill'] as const).map((bound) => ({
    label: `prefix, bound on ${bound === 'in-flight' ? 'all requests in progress' : 'requests in prefill'} only`,
    args: ['--routing', 'prefix', '--affinity-bound', bound],
  })),
  ...[1.25, 2].map((factor) => ({
    label: `prefix, load factor ${factor}`,
    args: ['--routing', 'prefix', '--affinity-load-factor', String(factor)],
  })),
  ...[256, 2048].map((bytes) => ({
    label: `prefix, --prefix-bytes ${bytes}`,
    args: ['--routing', 'prefix', '--prefix-bytes', String(bytes)],
  })),
];

export interface RoutingRun {
  readonly variant: string;
  readonly mix: PromptMix;
  readonly load: RoutingLoad;
  /** Per backend: completion requests received in the window. */
  readonly perBackend: number[];
  /** Cache hits over the system-prompt blocks the window's requests asked for. */
  readonly hitRate: number;
  /** routing_affinity_total in the window, by result. */
  readonly affinity: Record<string, number>;
  readonly windowS: number;
}

async function getText(url: string): Promise<string> {
  const res = await request(url, { headersTimeout: 5_000, bodyTimeout: 5_000 });
  return res.body.text();
}

interface BackendReading {
  requests: number;
  hits: number;
}

async function readBackend(backend: Server): Promise<BackendReading> {
  const stats = JSON.parse(await getText(`${backend.url}/mock/stats`)) as { completionRequests: number };
  const metrics = parsePromText(await getText(`${backend.url}/metrics`));
  return { requests: stats.completionRequests, hits: sumSamples(metrics, 'vllm:prefix_cache_hits_total') };
}

async function readAffinity(proxy: Server): Promise<Record<string, number>> {
  const metrics = parsePromText(await getText(`${proxy.url}/metrics`));
  const out: Record<string, number> = {};
  for (const result of ['home', 'overflow', 'unavailable', 'no_key'])
    out[result] = sumSamples(metrics, 'routing_affinity_total', { result });
  return out;
}

/** One variant on one mix: a fresh fleet (cold caches), a 2-worker proxy, warm-up, then the measured window. */
export async function runRoutingOnce(context: RunContext, variant: RoutingVariant, mix: PromptMix, seed: number): Promise<RoutingRun> {
  const dir = context.workDir;
  // One log per run (the seed is the repetition): a process's readiness is read from its log, and a reused
  // log would still hold the previous run's (stopped) process ready on another port.
  const tag = `${variant.label.replace(/[^a-z0-9]+/gi, '-')}-${mix}-${seed}`;
  const backends: Server[] = [];
  let proxy: Server | null = null;
  try {
    for (let i = 0; i < ROUTING_BACKENDS; i++) {
      backends.push(
        await startPrefixBackend(`routing-backend-${i}`, join(dir, `routing-${tag}-backend-${i}.log`), {
          cacheBlocks: CACHE_PROMPTS * PROMPT_BLOCKS,
          baseMs: PREFILL_BASE_MS,
          msPerBlock: PREFILL_MS_PER_BLOCK,
          slots: PREFILL_SLOTS,
          tokenDelayMs: TOKEN_DELAY_MS,
        }),
      );
    }
    proxy = await startProxy({
      name: `routing-${tag}`,
      backendUrl: backends.map((backend) => backend.url).join(','),
      workers: 2,
      logPath: join(dir, `routing-${tag}.log`),
      extraArgs: variant.args,
    });
    const windowMs = context.args.duration * 1000;
    let before: BackendReading[] = [];
    let affinityBefore: Record<string, number> = {};
    const reading = (async () => {
      await new Promise((resolve) => setTimeout(resolve, WARMUP_MS));
      before = await Promise.all(backends.map(readBackend));
      affinityBefore = await readAffinity(proxy as Server);
    })();
    const load = await driveRouting(proxy.url, { clients: ROUTING_CLIENTS, mix, warmupMs: WARMUP_MS, windowMs, seed });
    await reading;
    const after = await Promise.all(backends.map(readBackend));
    const affinityAfter = await readAffinity(proxy);
    const perBackend = after.map((a, i) => a.requests - (before[i]?.requests ?? 0));
    const requests = perBackend.reduce((sum, n) => sum + n, 0);
    const hits = after.reduce((sum, a, i) => sum + a.hits - (before[i]?.hits ?? 0), 0);
    const affinity: Record<string, number> = {};
    for (const [result, count] of Object.entries(affinityAfter)) affinity[result] = count - (affinityBefore[result] ?? 0);
    return {
      variant: variant.label,
      mix,
      load,
      perBackend,
      hitRate: requests === 0 ? 0 : hits / (requests * SYSTEM_BLOCKS),
      affinity,
      windowS: windowMs / 1000,
    };
  } finally {
    if (proxy !== null) context.exitCodes[proxy.name] = await proxy.stop();
    for (const backend of backends) await backend.stop();
  }
}
