import { loadFrom, registerEngineParser } from '../engine-registry.js';

/**
 * vLLM. vllm:gpu_cache_usage_perc was renamed vllm:kv_cache_usage_perc (PR #18354, 2025-05) and removed
 * (PR #29330, 2025-11): the new name is read first, the old one when that is all the engine has. Both
 * are a fraction (1 = full) despite the name. Series carry `model_name`, and `engine` per data-parallel rank.
 */
const WAITING = 'vllm:num_requests_waiting';
const RUNNING = 'vllm:num_requests_running';
const KV = 'vllm:kv_cache_usage_perc';
const OLD_KV = 'vllm:gpu_cache_usage_perc';

registerEngineParser({
  engine: 'vllm',
  prefix: 'vllm:',
  names: [WAITING, RUNNING, KV],
  // The old name is looked for only when the new one is absent: a search for a missing name reads the whole text.
  fallback: [OLD_KV],
  read: (samples) => loadFrom('vllm', samples, { waiting: WAITING, running: RUNNING, kv: [KV, OLD_KV] }),
});
