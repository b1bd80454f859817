import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { loadEngineParsers, readEngineLoad } from '../../src/engines/engine-registry.js';
import { spawnMockBackend } from '../../src/mock-backend/spawn-mock-backend.js';
import { fmt, markdownTable } from '../report/markdown.js';

const PARSE_CALLS = 2_000;
const READS = 3_000;
const INTERVALS_MS = [50, 100, 250, 500];
const FLEET_SIZES = [1, 8, 64];

export interface EngineReadCost {
  /** Bytes of the synthetic vLLM exposition. */
  readonly vllmBytes: number;
  /** readEngineLoad of it, µs (median of 5 rounds). */
  readonly vllmParseUs: number;
  /** Bytes of the mock engine's exposition. */
  readonly mockBytes: number;
  /** One read of the mock engine as the prober does it (GET over a kept connection, body, parse): CPU µs in this process. */
  readonly mockReadCpuUs: number;
}

/**
 * An exposition shaped like vLLM's for one model and two data-parallel engines: its three scheduler gauges
 * among a dozen histograms of 30 buckets and their counters, as a real /metrics mostly is.
 */
function vllmExposition(): string {
  const lines: string[] = [];
  // Each family's samples together, both engines', as the text format has them.
  const engines = ['0', '1'].map((engine) => `engine="${engine}",model_name="meta-llama/Llama-3.1-8B-Instruct"`);
  for (let h = 0; h < 12; h++) {
    const name = `vllm:histogram_${h}_seconds`;
    lines.push(`# HELP ${name} A histogram.`, `# TYPE ${name} histogram`);
    for (const labels of engines) {
      for (let b = 0; b < 30; b++) lines.push(`${name}_bucket{${labels},le="${(0.001 * 2 ** (b / 2)).toFixed(4)}"} ${b * 17}.0`);
      lines.push(`${name}_bucket{${labels},le="+Inf"} 600.0`, `${name}_sum{${labels}} 1234.5`, `${name}_count{${labels}} 600.0`);
    }
  }
  // The gauges last: the search for them reads past every histogram.
  for (const gauge of ['num_requests_running', 'num_requests_waiting', 'kv_cache_usage_perc']) {
    lines.push(`# HELP vllm:${gauge} A gauge.`, `# TYPE vllm:${gauge} gauge`);
    for (const labels of engines) lines.push(`vllm:${gauge}{${labels}} 3.0`);
  }
  for (let c = 0; c < 10; c++)
    for (const labels of engines) lines.push(`vllm:counter_${c}_total{${labels},finished_reason="stop"} ${c * 1000}.0`);
  return `${lines.join('\n')}\n`;
}

function medianUs(calls: number, fn: () => unknown): number {
  const rounds: number[] = [];
  for (let round = 0; round < 5; round++) {
    const start = performance.now();
    for (let i = 0; i < calls; i++) fn();
    rounds.push(((performance.now() - start) * 1000) / calls);
  }
  rounds.sort((a, b) => a - b);
  return rounds[2] as number;
}

/**
 * What one engine read costs the primary: parsing a vLLM-sized exposition, and a whole read of a mock
 * engine in another process (request over a kept connection, body, parse), as CPU time of this process.
 */
export async function measureEngineReadCost(): Promise<EngineReadCost> {
  await loadEngineParsers();
  const vllm = vllmExposition();
  // As the prober reads it: the backend's engine known from its last reading.
  medianUs(PARSE_CALLS, () => readEngineLoad(vllm, 'vllm'));
  const vllmParseUs = medianUs(PARSE_CALLS, () => readEngineLoad(vllm, 'vllm'));
  const engine = await spawnMockBackend({ args: ['--max-num-seqs', '8'] });
  const agent = new Agent({ connections: 1, keepAliveTimeout: 10_000 });
  try {
    const read = async (): Promise<number> => {
      const res = await request(`${engine.url}/metrics`, { dispatcher: agent });
      const text = await res.body.text();
      readEngineLoad(text, 'vllm');
      return text.length;
    };
    let mockBytes = 0;
    for (let i = 0; i < 1_000; i++) mockBytes = await read();
    const before = process.cpuUsage();
    for (let i = 0; i < READS; i++) await read();
    const used = process.cpuUsage(before);
    return { vllmBytes: vllm.length, vllmParseUs, mockBytes, mockReadCpuUs: (used.user + used.system) / READS };
  } finally {
    await agent.destroy();
    await engine.stop();
  }
}

export function renderEngineReadCost(cost: EngineReadCost): string {
  const perRead = cost.mockReadCpuUs + cost.vllmParseUs;
  const rows = INTERVALS_MS.map((interval) => [
    `${interval} ms`,
    ...FLEET_SIZES.map((backends) => `${fmt((perRead * backends * (1000 / interval)) / 10_000, 2)}%`),
  ]);
  return [
    '### saturation: what reading the engines costs',
    '',
    `One read of a mock engine's /metrics (${cost.mockBytes} bytes, over a kept connection, in another process) costs ${fmt(cost.mockReadCpuUs, 1)} µs of CPU in the reading process (mean of ${READS.toLocaleString('en-US')}); parsing an exposition shaped like vLLM's (${fmt(cost.vllmBytes / 1024, 0)} KiB: its three gauges among a dozen histograms) costs ${fmt(cost.vllmParseUs, 1)} µs more. At that price per read, the primary's share of one core while the proxy has traffic (--load-interval; nothing while idle but one read per --health-interval):`,
    '',
    markdownTable(['--load-interval', ...FLEET_SIZES.map((n) => `${n} backend${n === 1 ? '' : 's'}`)], rows),
  ].join('\n');
}
