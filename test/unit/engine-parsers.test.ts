import assert from 'node:assert/strict';
import { test } from 'node:test';
import { engineNames, loadEngineParsers, readEngineLoad } from '../../src/engines/engine-registry.js';
import { parsePromFamilies, parsePromText } from '../../src/metrics/prom-text.js';

await loadEngineParsers();

/**
 * A vLLM exposition as it looks: histograms around the gauges, HELP lines naming them, two data-parallel
 * engines (each family's samples together, as the text format has them).
 */
function vllmText(kvName: string): string {
  const model = 'meta-llama/Llama-3.1-8B-Instruct';
  const engines = ['0', '1'].map((engine) => ({ engine, labels: `engine="${engine}",model_name="${model}"` }));
  let text = '';
  for (const { labels } of engines) {
    for (const le of ['0.001', '0.005', '0.01', '0.02', '0.04', '0.06', '0.08', '0.1', '0.25', '0.5', '+Inf']) {
      text += `vllm:time_to_first_token_seconds_bucket{${labels},le="${le}"} 12.0\n`;
    }
  }
  text += '# HELP vllm:num_requests_running Number of requests in model execution batches.\n';
  text += '# TYPE vllm:num_requests_running gauge\n';
  for (const { engine, labels } of engines) text += `vllm:num_requests_running{${labels}} ${engine === '0' ? '7.0' : '5.0'}\n`;
  text += '# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n# TYPE vllm:num_requests_waiting gauge\n';
  for (const { engine, labels } of engines) text += `vllm:num_requests_waiting{${labels}} ${engine === '0' ? '3.0' : '0.0'}\n`;
  // A family whose name starts like a gauge's must not be read as it.
  for (const { labels } of engines) text += `vllm:num_requests_waiting_by_reason{${labels},reason="capacity"} 99.0\n`;
  text += `# HELP ${kvName} KV-cache usage. 1 means 100 percent usage.\n# TYPE ${kvName} gauge\n`;
  for (const { engine, labels } of engines) text += `${kvName}{${labels}} ${engine === '0' ? '0.9' : '0.5'}\n`;
  return text;
}

test('every engine of ./parsers registers itself', () => {
  assert.deepEqual(engineNames().sort(), ['llamacpp', 'sglang', 'tgi', 'vllm']);
});

test('vLLM: counts summed over data-parallel engines, KV use their mean; the old KV name when the new one is absent', () => {
  assert.deepEqual(readEngineLoad(vllmText('vllm:kv_cache_usage_perc')), { engine: 'vllm', waiting: 3, running: 12, kvUsage: 0.7 });
  assert.deepEqual(readEngineLoad(vllmText('vllm:gpu_cache_usage_perc')), { engine: 'vllm', waiting: 3, running: 12, kvUsage: 0.7 });
  const both = `${vllmText('vllm:kv_cache_usage_perc')}vllm:gpu_cache_usage_perc{engine="0",model_name="m"} 0.1\n`;
  assert.equal(readEngineLoad(both)?.kvUsage, 0.7, 'the new name wins');
  const noKv = 'vllm:num_requests_running{model_name="m"} 2.0\nvllm:num_requests_waiting{model_name="m"} 1.0\n';
  assert.deepEqual(readEngineLoad(noKv), { engine: 'vllm', waiting: 1, running: 2, kvUsage: null });
});

test('SGLang: only tensor-parallel rank 0 counts', () => {
  const text = [
    '# TYPE sglang:num_running_reqs gauge',
    'sglang:num_running_reqs{model_name="qwen",tp_rank="0"} 6.0',
    'sglang:num_running_reqs{model_name="qwen",tp_rank="1"} 6.0',
    'sglang:num_queue_reqs{model_name="qwen",tp_rank="0"} 2.0',
    'sglang:num_queue_reqs{model_name="qwen",tp_rank="1"} 2.0',
    'sglang:token_usage{model_name="qwen",tp_rank="0"} 0.42',
    'sglang:token_usage{model_name="qwen",tp_rank="1"} 0.42',
    '',
  ].join('\n');
  assert.deepEqual(readEngineLoad(text), { engine: 'sglang', waiting: 2, running: 6, kvUsage: 0.42 });
});

test('llama.cpp server and TGI', () => {
  const llama = [
    '# HELP llamacpp:requests_processing Number of requests processing.',
    '# TYPE llamacpp:requests_processing gauge',
    'llamacpp:requests_processing 4',
    'llamacpp:requests_deferred 9',
    'llamacpp:kv_cache_usage_ratio 0.25',
    '',
  ].join('\n');
  assert.deepEqual(readEngineLoad(llama), { engine: 'llamacpp', waiting: 9, running: 4, kvUsage: 0.25 });
  assert.deepEqual(readEngineLoad('llamacpp:requests_processing 1\n'), { engine: 'llamacpp', waiting: 0, running: 1, kvUsage: null });
  const tgi = '# TYPE tgi_queue_size gauge\ntgi_queue_size 11\r\n# TYPE tgi_batch_current_size gauge\ntgi_batch_current_size 32\r\n';
  assert.deepEqual(readEngineLoad(tgi), { engine: 'tgi', waiting: 11, running: 32, kvUsage: null });
});

test('no engine: an unknown exposition, an empty one, only HELP lines, or values that are not numbers', () => {
  assert.equal(readEngineLoad('process_cpu_seconds_total 12\n'), null);
  assert.equal(readEngineLoad(''), null);
  assert.equal(readEngineLoad('# HELP vllm:num_requests_waiting Number of requests waiting.\n'), null);
  assert.equal(readEngineLoad('<html>vllm:num_requests_waiting</html>'), null);
  assert.deepEqual(readEngineLoad('vllm:num_requests_waiting NaN\nvllm:num_requests_running 3\n'), {
    engine: 'vllm',
    waiting: 0,
    running: 3,
    kvUsage: null,
  });
});

test('parsePromFamilies reads exactly what parsePromText reads of the families it is asked for, whatever the order', () => {
  const text = vllmText('vllm:kv_cache_usage_perc');
  const names = ['vllm:num_requests_running', 'vllm:num_requests_waiting', 'vllm:time_to_first_token_seconds_bucket', 'absent'];
  const full = parsePromText(text);
  const some = parsePromFamilies(text, names);
  assert.deepEqual([...some.keys()].sort(), names.slice(0, 3).sort());
  for (const name of names.slice(0, 3)) assert.deepEqual(some.get(name), full.get(name), name);
});

test("the backend's engine of last time is tried first, and another engine's text is still read", () => {
  const sglang = 'sglang:num_running_reqs{model_name="q"} 6.0\nsglang:num_queue_reqs{model_name="q"} 2.0\n';
  assert.deepEqual(readEngineLoad(sglang, 'vllm'), { engine: 'sglang', waiting: 2, running: 6, kvUsage: null });
  assert.equal(readEngineLoad(vllmText('vllm:kv_cache_usage_perc'), 'vllm')?.running, 12);
});
