import { loadFrom, registerEngineParser } from '../engine-registry.js';

/** Text Generation Inference: its queue and the size of the batch it is running. It tells no KV use. */
const WAITING = 'tgi_queue_size';
const RUNNING = 'tgi_batch_current_size';

registerEngineParser({
  engine: 'tgi',
  prefix: 'tgi_',
  names: [WAITING, RUNNING],
  read: (samples) => loadFrom('tgi', samples, { waiting: WAITING, running: RUNNING, kv: [] }),
});
