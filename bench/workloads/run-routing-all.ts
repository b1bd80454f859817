import type { BenchArgs } from '../bench-args.js';
import { type KeyCostResult, measurePrefixKeyCost, renderKeyCost } from '../measurement/prefix-key-cost.js';
import { type RoutingRow, renderRoutingSection, summarise } from '../report/routing-section.js';
import type { PromptMix } from './routing-client.js';
import type { RunContext } from './run-context.js';
import { MAIN_VARIANTS, type RoutingRun, type RoutingVariant, runRoutingOnce, SWEEP_VARIANTS } from './run-routing.js';

export const ROUTING_MIXES: readonly PromptMix[] = ['uniform', 'skewed'];

export interface RoutingResults {
  rows: Record<PromptMix, RoutingRow[]>;
  keyCost: KeyCostResult;
  section: string;
}

export function routingVariants(args: BenchArgs): readonly RoutingVariant[] {
  return args.routingSweep ? [...MAIN_VARIANTS, ...SWEEP_VARIANTS] : MAIN_VARIANTS;
}

/**
 * The routing workload: every variant on each mix, repetitions alternated (variant A, B, … then again) so
 * that a slow minute on the shared machine does not fall on one variant only.
 */
export async function runRoutingWorkload(context: RunContext): Promise<RoutingResults> {
  const variants = routingVariants(context.args);
  const rows: Record<PromptMix, RoutingRow[]> = { uniform: [], skewed: [] };
  for (const mix of ROUTING_MIXES) {
    const runs = new Map<string, RoutingRun[]>(variants.map((variant) => [variant.label, []]));
    for (let rep = 0; rep < context.args.reps; rep++) {
      for (const variant of variants) {
        console.error(`bench: ${context.progress()} routing ${mix} ${variant.label}`);
        runs.get(variant.label)?.push(await runRoutingOnce(context, variant, mix, 1 + rep));
      }
    }
    rows[mix] = variants.map((variant) => summarise(runs.get(variant.label) ?? []));
  }
  // Measured after the runs, with the fleet stopped, so that nothing else runs on the bench's process.
  const keyCost = measurePrefixKeyCost([256, 1024, 2048]);
  const section = `${renderRoutingSection(rows, context.args.reps, context.args.duration)}\n\n${renderKeyCost(keyCost)}`;
  return { rows, keyCost, section };
}
