import type { EngineScheduler, EngineStats } from './engine-scheduler.js';
import type { PrefixCacheStats } from './prefill-stage.js';

/** Prometheus text exposition format 0.0.4, as vLLM serves it. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

interface Family {
  readonly name: string;
  readonly type: 'counter' | 'gauge';
  readonly help: string;
  /** Carries vLLM's labels (engine, model_name). */
  readonly vllm: boolean;
  readonly value: number;
}

/**
 * GET /metrics of the simulated engine, told truthfully: vLLM's scheduler gauges with vLLM's names, help
 * and labels (`engine`, `model_name`), so that a scraper written for vLLM reads the mock as it reads vLLM;
 * with the prefix cache on, its counters too. A request waiting for a prefill slot has a sequence slot
 * but is not scheduled yet: it counts as waiting, not running, as in vLLM.
 */
export function mockMetricsText(model: string, engine: EngineScheduler, stats: EngineStats, prefix: PrefixCacheStats | null): string {
  const prefillWaiting = prefix?.waiting ?? 0;
  const families: Family[] = [
    {
      name: 'vllm:num_requests_running',
      type: 'gauge',
      help: 'Number of requests in model execution batches.',
      vllm: true,
      value: stats.running - prefillWaiting,
    },
    {
      name: 'vllm:num_requests_waiting',
      type: 'gauge',
      help: 'Number of requests waiting to be processed.',
      vllm: true,
      value: stats.waiting + prefillWaiting,
    },
    {
      name: 'vllm:kv_cache_usage_perc',
      type: 'gauge',
      help: 'KV-cache usage. 1 means 100 percent usage.',
      vllm: true,
      value: engine.kvUsage(),
    },
  ];
  // Names as vLLM's where vLLM has the metric; the unit differs: vLLM counts prompt tokens, the mock
  // counts 256-byte prompt blocks.
  if (prefix !== null) {
    families.push(
      {
        name: 'vllm:prefix_cache_queries_total',
        type: 'counter',
        help: 'Prompt blocks (256 bytes of prompt text) looked up in the prefix cache.',
        vllm: true,
        value: prefix.queries,
      },
      {
        name: 'vllm:prefix_cache_hits_total',
        type: 'counter',
        help: 'Prompt blocks found in the prefix cache.',
        vllm: true,
        value: prefix.hits,
      },
      {
        name: 'mock_prefill_running',
        type: 'gauge',
        help: 'Requests in prefill (at most the prefill slots).',
        vllm: false,
        value: prefix.running,
      },
      {
        name: 'mock_prefix_cache_blocks',
        type: 'gauge',
        help: 'Blocks held in the prefix cache.',
        vllm: false,
        value: prefix.cachedBlocks,
      },
    );
  }
  const labels = `{engine="0",model_name=${JSON.stringify(model)}}`;
  let text = '';
  for (const family of families) {
    text += `# HELP ${family.name} ${family.help}\n# TYPE ${family.name} ${family.type}\n${family.name}${family.vllm ? labels : ''} ${family.value}\n`;
  }
  return text;
}
