import type { PrefixCacheStats } from './prefill-stage.js';

/** Prometheus text exposition format 0.0.4, as vLLM serves it. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type Metric = readonly [name: string, type: 'counter' | 'gauge', help: string, value: (stats: PrefixCacheStats) => number];

// Names as vLLM's where vLLM has the metric, so a scraper written for vLLM reads the fleet; the unit differs:
// vLLM counts prompt tokens, the mock counts 256-byte prompt blocks.
const METRICS: readonly Metric[] = [
  [
    'vllm:prefix_cache_queries_total',
    'counter',
    'Prompt blocks (256 bytes of prompt text) looked up in the prefix cache.',
    (s) => s.queries,
  ],
  ['vllm:prefix_cache_hits_total', 'counter', 'Prompt blocks found in the prefix cache.', (s) => s.hits],
  ['vllm:num_requests_waiting', 'gauge', 'Requests waiting for a prefill slot.', (s) => s.waiting],
  ['mock_prefill_running', 'gauge', 'Requests in prefill (at most the prefill slots).', (s) => s.running],
  ['mock_prefix_cache_blocks', 'gauge', 'Blocks held in the prefix cache.', (s) => s.cachedBlocks],
];

/** GET /metrics of a backend with the prefix cache on. */
export function prefixCacheMetricsText(stats: PrefixCacheStats): string {
  let text = '';
  for (const [name, type, help, value] of METRICS) text += `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name} ${value(stats)}\n`;
  return text;
}
