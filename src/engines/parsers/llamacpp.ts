import { loadFrom, registerEngineParser } from '../engine-registry.js';

/**
 * llama.cpp's server (with --metrics): requests being processed by its slots, requests deferred for want of
 * a free slot, and the KV cache's fill ratio (older servers only).
 */
const WAITING = 'llamacpp:requests_deferred';
const RUNNING = 'llamacpp:requests_processing';
const KV = ['llamacpp:kv_cache_usage_ratio'];

registerEngineParser({
  engine: 'llamacpp',
  prefix: 'llamacpp:',
  names: [WAITING, RUNNING, ...KV],
  read: (samples) => loadFrom('llamacpp', samples, { waiting: WAITING, running: RUNNING, kv: KV }),
});
