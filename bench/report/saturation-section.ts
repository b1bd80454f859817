import type { SaturationRun } from '../workloads/run-saturation.js';
import { CAPACITY_PER_S, ENGINES, PREFILL_MS, SLOTS, TOKEN_DELAY_MS, TOKENS } from '../workloads/run-saturation.js';
import { quantile } from '../workloads/saturation-client.js';
import { markdownTable } from './markdown.js';

const ms = (value: number | null): string =>
  value === null ? '–' : value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
const pct = (value: number): string => `${(value * 100).toFixed(1)}%`;

/** The saturation workload's table, one row per run and tenant, and the issue's targets checked on it. */
export function renderSaturationSection(runs: readonly SaturationRun[], reps: number): string {
  const rows = runs.flatMap((run) =>
    run.tenants.map((tenant) => [
      run.variant,
      `${run.load}×`,
      tenant.name,
      String(tenant.offered),
      pct(tenant.offered === 0 ? 0 : tenant.succeeded / tenant.offered),
      ms(quantile(tenant.ttftMs, 0.5)),
      ms(quantile(tenant.ttftMs, 0.99)),
      (tenant.completionsInWindow / run.windowS).toFixed(2),
      run.engines.meanQueue.toFixed(2),
      String(run.engines.maxQueue),
      pct(run.engines.slotUse),
    ]),
  );
  const header = [
    'variant',
    'load',
    'tenant',
    'requests',
    'success',
    'TTFT p50',
    'TTFT p99',
    'completions/s',
    'engine queue, mean',
    'engine queue, max',
    'slot use',
  ];
  return [
    '## saturation',
    '',
    `${ENGINES} simulated engines of ${SLOTS} slots (\`--max-num-seqs ${SLOTS}\`), ${PREFILL_MS} ms of prefill, then ${TOKENS} tokens ${TOKEN_DELAY_MS} ms apart: a capacity of ${CAPACITY_PER_S.toFixed(2)} completions per second. Open-loop Poisson arrivals (the same seeded arrival times for every variant) of streamed chats, 10% from the interactive tenant (a key of priority interactive) and 90% from the batch tenant (a key of priority batch); in the run of two batch keys (weight 1 each), one offers 6× the capacity and the other 0.6×. Each proxy instance has 2 workers; ${reps} repetition(s). Time to first token is timed from the moment a request was due. The engine columns are time averages over the window from the engines' own counters: mean queue per engine, the longest queue any engine had, and the share of slots running a sequence.`,
    '',
    markdownTable(header, rows),
    '',
    ...renderTargets(runs),
  ].join('\n');
}

function find(runs: readonly SaturationRun[], variant: string, load: number): SaturationRun | null {
  return runs.find((run) => run.variant === variant && run.load === load) ?? null;
}

function p99Of(run: SaturationRun | null, tenant: string): number | null {
  const found = run?.tenants.find((t) => t.name === tenant);
  return found === undefined ? null : quantile(found.ttftMs, 0.99);
}

/** The targets of issue 21 point 6 that this workload measures, each met or missed with its figures. */
function renderTargets(runs: readonly SaturationRun[]): string[] {
  const lines = ['Targets at 2× overload:', ''];
  const off = p99Of(find(runs, 'queue off (sending on)', 2), 'interactive');
  for (const variant of [
    'queue on (defaults)',
    'queue on, --saturation-waiting 0',
    'queue on, --engine-priority on (engines schedule by priority)',
  ]) {
    const high = p99Of(find(runs, variant, 2), 'interactive');
    const low = p99Of(find(runs, variant, 0.5), 'interactive');
    if (high === null || low === null) continue;
    const vsLow = high / low;
    lines.push(
      `- ${variant}: interactive TTFT p99 ${ms(high)} at 2× against ${ms(low)} at 0.5×: ${vsLow.toFixed(2)}× (target ≤ 2×: ${vsLow <= 2 ? 'met' : 'missed'})` +
        (off === null
          ? ''
          : `; against ${ms(off)} with the queue off: ${(high / off).toFixed(3)}× (target ≤ 0.25×: ${high / off <= 0.25 ? 'met' : 'missed'})`),
    );
  }
  for (const run of runs.filter((r) => r.load === 2 && r.variant.startsWith('queue on'))) {
    const limit = run.variant.includes('--saturation-waiting 0') ? 0 : 5;
    lines.push(
      `- ${run.variant}: slot use ${pct(run.engines.slotUse)} (target ≥ 95%: ${run.engines.slotUse >= 0.95 ? 'met' : 'missed'}); longest engine queue ${run.engines.maxQueue} (target ≤ ${limit}: ${run.engines.maxQueue <= limit ? 'met' : 'missed'})`,
    );
  }
  for (const run of runs.filter((r) => r.tenants.length === 2 && r.tenants.every((t) => t.name.startsWith('batch-')))) {
    const total = run.tenants.reduce((sum, t) => sum + t.completionsInWindow, 0);
    const shares = run.tenants.map((t) => ({ name: t.name, share: total === 0 ? 0 : t.completionsInWindow / total }));
    const met = shares.every((s) => s.share >= 0.45);
    lines.push(
      `- ${run.variant} at ${run.load}×: completions ${shares.map((s) => `${s.name} ${pct(s.share)}`).join(', ')} (target each ≥ 45%: ${met ? 'met' : 'missed'}); slot use ${pct(run.engines.slotUse)}`,
    );
  }
  return lines;
}
