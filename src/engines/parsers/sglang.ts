import { loadFrom, registerEngineParser } from '../engine-registry.js';

/** SGLang: its scheduler's queue and running batch, and sglang:token_usage (the share of KV token slots in use). */
const WAITING = 'sglang:num_queue_reqs';
const RUNNING = 'sglang:num_running_reqs';
const KV = ['sglang:token_usage'];

registerEngineParser({
  engine: 'sglang',
  prefix: 'sglang:',
  names: [WAITING, RUNNING, ...KV],
  read: (samples) => loadFrom('sglang', samples, { waiting: WAITING, running: RUNNING, kv: KV }),
});
