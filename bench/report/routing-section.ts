import { median } from '../measurement/stats.js';
import type { PromptMix } from '../workloads/routing-client.js';
import {
  CACHE_PROMPTS,
  PREFILL_BASE_MS,
  PREFILL_MS_PER_BLOCK,
  PREFILL_SLOTS,
  ROUTING_BACKENDS,
  ROUTING_CLIENTS,
  type RoutingRun,
  TOKEN_DELAY_MS,
} from '../workloads/run-routing.js';
import { fmt, markdownTable } from './markdown.js';

/** One variant's figures over its repetitions (medians). */
export interface RoutingRow {
  variant: string;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  hitRate: number;
  imbalance: number;
  requestsPerS: number;
  failed: number;
  affinity: Record<string, number>;
}

export function summarise(runs: readonly RoutingRun[]): RoutingRow {
  const first = runs[0] as RoutingRun;
  const perRun = runs.map((run) => {
    const mean = run.load.completed === 0 ? 0 : run.load.ttftSumMs / run.load.completed;
    const total = run.perBackend.reduce((sum, n) => sum + n, 0);
    const imbalance = total === 0 ? 0 : Math.max(...run.perBackend) / (total / run.perBackend.length);
    return { mean, p50: run.load.ttft.quantile(0.5) ?? 0, p99: run.load.ttft.quantile(0.99) ?? 0, imbalance, rate: total / run.windowS };
  });
  const affinity: Record<string, number> = {};
  for (const result of Object.keys(first.affinity)) affinity[result] = median(runs.map((run) => run.affinity[result] ?? 0));
  return {
    variant: first.variant,
    meanMs: median(perRun.map((r) => r.mean)),
    p50Ms: median(perRun.map((r) => r.p50)),
    p99Ms: median(perRun.map((r) => r.p99)),
    hitRate: median(runs.map((run) => run.hitRate)),
    imbalance: median(perRun.map((r) => r.imbalance)),
    requestsPerS: median(perRun.map((r) => r.rate)),
    failed: runs.reduce((sum, run) => sum + run.load.failed, 0),
    affinity,
  };
}

function affinityCell(affinity: Record<string, number>): string {
  const total = Object.values(affinity).reduce((sum, n) => sum + n, 0);
  if (total === 0) return '–';
  return ['home', 'overflow', 'unavailable', 'no_key']
    .filter((result) => (affinity[result] ?? 0) > 0)
    .map((result) => `${result} ${fmt((100 * (affinity[result] ?? 0)) / total, 0)}%`)
    .join(', ');
}

export function renderRoutingSection(rows: Record<PromptMix, RoutingRow[]>, reps: number, durationS: number): string {
  const intro = [
    '## routing: which backend holds the prompt prefix (issue 12)',
    '',
    `- Fleet: ${ROUTING_BACKENDS} simulated backends with a prefix cache: time to first token = ${PREFILL_BASE_MS} ms + ${PREFILL_MS_PER_BLOCK} ms per uncached 256-byte block (a block counts only if every block before it is cached), an LRU of ${CACHE_PROMPTS} prompts' worth of blocks each (1.5 × a fair share), at most ${PREFILL_SLOTS} requests in prefill at once (the rest queue), then 8 tokens ${TOKEN_DELAY_MS} ms apart.`,
    `- Load: ${ROUTING_CLIENTS} clients back to back; each request is a streamed chat: one of 64 system prompts of 4 KiB (they share a 256-byte preamble) plus a unique 256-byte user message; \`x-session-id\` names its system prompt (the session policy's key). uniform: every prompt alike; skewed: one prompt carries 80% of the requests.`,
    `- Each variant: a fresh fleet (cold caches) and a 2-worker proxy, 5 s warm-up, then ${durationS} s measured; ${reps} repetitions, medians. TTFT = request sent → first content event at the client. Hit rate = cache hits over the 16 system-prompt blocks of each request in the window. Imbalance = most requests on one backend / the mean. Affinity = routing_affinity_total in the window.`,
  ];
  const out = [intro.join('\n')];
  for (const mix of ['uniform', 'skewed'] as const) {
    const list = rows[mix];
    if (list.length === 0) continue;
    const rr = list.find((row) => row.variant === 'round-robin')?.meanMs ?? null;
    const ll = list.find((row) => row.variant === 'least-load')?.meanMs ?? null;
    const llP99 = list.find((row) => row.variant === 'least-load')?.p99Ms ?? null;
    const table = markdownTable(
      [
        'variant',
        'TTFT mean ms',
        'p50 ms',
        'p99 ms',
        'mean vs round-robin',
        'mean vs least-load',
        'p99 vs least-load',
        'hit rate',
        'imbalance',
        'req/s',
        'affinity',
        'failed',
      ],
      list.map((row) => [
        row.variant,
        fmt(row.meanMs, 1),
        fmt(row.p50Ms, 1),
        fmt(row.p99Ms, 1),
        rr === null ? '–' : `${fmt((100 * row.meanMs) / rr, 0)}%`,
        ll === null ? '–' : `${fmt((100 * row.meanMs) / ll, 0)}%`,
        llP99 === null ? '–' : `${fmt((100 * row.p99Ms) / llP99, 0)}%`,
        `${fmt(100 * row.hitRate, 1)}%`,
        fmt(row.imbalance, 2),
        fmt(row.requestsPerS, 0),
        affinityCell(row.affinity),
        String(row.failed),
      ]),
    );
    out.push(`### routing, ${mix}\n\n${table}`);
  }
  return out.join('\n\n');
}
