import { median, NGINX_TARGET, SIMPLE_TARGET } from './report.js';
import type { StreamRunResult } from './stream-bench.js';
import { STREAM } from './workloads.js';

export const PLAIN_TARGET = 'proxy-1w-plain';
/** Targets whose proxy injects stream_options.include_usage and must hide the usage chunk. */
export const INJECTING_TARGETS: readonly string[] = ['proxy-1w'];

export interface StreamSummary {
  target: string;
  streams: number;
  runs: number;
  tokensPerSec: number;
  /** Summed over the runs. */
  completed: number;
  failed: number;
  lostTokens: number;
  usageChunks: number;
  batchedPct: number | null;
  ttftP50: number | null;
  gapP50: number | null;
  gapP99: number | null;
  proxyCpuUsPerToken: number | null;
  proxyCpuUsPerTokenMin: number | null;
  proxyCpuUsPerTokenMax: number | null;
  backendCpuUsPerToken: number | null;
  proxyCpuPct: number | null;
  backendCpuPct: number | null;
  loadgenCpuPct: number;
  machineBusyPct: number;
  otherCpuPct: number;
  interruptCpuPct: number;
  proxyIdleRssMb: number | null;
  proxyWindowRssMb: number | null;
  proxyEndRssMb: number | null;
  proxyRssMbPer1kStreams: number | null;
  errorSamples: string[];
}

function known(values: readonly (number | null)[]): number[] {
  return values.filter((v): v is number => v !== null);
}

function medianOrNull(values: readonly (number | null)[]): number | null {
  const list = known(values);
  return list.length === 0 ? null : median(list);
}

export function summarizeStream(target: string, streams: number, runs: readonly StreamRunResult[]): StreamSummary {
  const proxyCpu = known(runs.map((r) => r.proxyCpuUsPerToken));
  const sum = (pick: (r: StreamRunResult) => number): number => runs.reduce((total, r) => total + pick(r), 0);
  return {
    target,
    streams,
    runs: runs.length,
    tokensPerSec: median(runs.map((r) => r.tokensPerSec)),
    completed: sum((r) => r.completed),
    failed: sum((r) => r.failed),
    lostTokens: sum((r) => r.lostTokens),
    usageChunks: sum((r) => r.usageChunks),
    batchedPct: medianOrNull(runs.map((r) => r.batchedPct)),
    ttftP50: medianOrNull(runs.map((r) => r.ttftP50)),
    gapP50: medianOrNull(runs.map((r) => r.gapP50)),
    gapP99: medianOrNull(runs.map((r) => r.gapP99)),
    proxyCpuUsPerToken: proxyCpu.length === 0 ? null : median(proxyCpu),
    proxyCpuUsPerTokenMin: proxyCpu.length === 0 ? null : Math.min(...proxyCpu),
    proxyCpuUsPerTokenMax: proxyCpu.length === 0 ? null : Math.max(...proxyCpu),
    backendCpuUsPerToken: medianOrNull(runs.map((r) => r.backendCpuUsPerToken)),
    proxyCpuPct: medianOrNull(runs.map((r) => r.proxyCpuPct)),
    backendCpuPct: medianOrNull(runs.map((r) => r.backendCpuPct)),
    loadgenCpuPct: median(runs.map((r) => r.loadgenCpuPct)),
    machineBusyPct: median(runs.map((r) => r.machineBusyPct)),
    otherCpuPct: median(runs.map((r) => r.otherCpuPct)),
    interruptCpuPct: median(runs.map((r) => r.interruptCpuPct)),
    proxyIdleRssMb: medianOrNull(runs.map((r) => r.proxyIdleRssMb)),
    proxyWindowRssMb: medianOrNull(runs.map((r) => r.proxyWindowRssMb)),
    proxyEndRssMb: medianOrNull(runs.map((r) => r.proxyEndRssMb)),
    proxyRssMbPer1kStreams: medianOrNull(runs.map((r) => r.proxyRssMbPer1kStreams)),
    errorSamples: [...new Set(runs.flatMap((r) => r.errorSamples))].slice(0, 5),
  };
}

const fmt = (v: number | null, digits = 0): string =>
  v === null ? '–' : v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ratio = (v: number | null, base: number | null): string =>
  v === null || base === null || base === 0 ? '–' : `${(v / base).toFixed(2)}×`;
const delta = (v: number | null, base: number | null, digits = 1): string =>
  v === null || base === null ? '–' : `${v - base >= 0 ? '+' : '−'}${fmt(Math.abs(v - base), digits)}`;

/** One markdown table for one stream count: medians per target, ratios to `direct`, nginx and the simple undici proxy. */
export function renderStreamTable(summaries: readonly StreamSummary[]): string {
  const find = (name: string): StreamSummary | null => summaries.find((s) => s.target === name) ?? null;
  const direct = find('direct');
  const nginx = find(NGINX_TARGET);
  const simple = find(SIMPLE_TARGET);
  const header = [
    'target',
    'tokens/s at client',
    'tokens/s vs direct',
    'streams done / failed',
    'tokens lost',
    'proxy CPU µs/token (min–max)',
    'CPU/token vs nginx',
    'CPU/token vs simple-undici',
    'backend CPU µs/token',
    'TTFT p50 ms',
    'gap p50 ms',
    'gap p99 ms',
    'gap p99 vs direct',
    'tokens < 1 ms after previous %',
    'usage chunks seen',
    'proxy RSS MB idle / window / end',
    'CPU % client / backend / proxy / other (of which irq+softirq) (1 core = 100)',
    'machine busy %',
  ];
  const rows = summaries.map((s) => {
    const range = s.proxyCpuUsPerToken === null ? '' : ` (${fmt(s.proxyCpuUsPerTokenMin, 1)}–${fmt(s.proxyCpuUsPerTokenMax, 1)})`;
    return [
      s.target,
      fmt(s.tokensPerSec),
      ratio(s.tokensPerSec, direct?.tokensPerSec ?? null),
      `${fmt(s.completed)} / ${fmt(s.failed)}`,
      fmt(s.lostTokens),
      `${fmt(s.proxyCpuUsPerToken, 1)}${range}`,
      ratio(s.proxyCpuUsPerToken, nginx?.proxyCpuUsPerToken ?? null),
      ratio(s.proxyCpuUsPerToken, simple?.proxyCpuUsPerToken ?? null),
      fmt(s.backendCpuUsPerToken, 1),
      fmt(s.ttftP50, 2),
      fmt(s.gapP50, 2),
      fmt(s.gapP99, 2),
      ratio(s.gapP99, direct?.gapP99 ?? null),
      fmt(s.batchedPct, 1),
      fmt(s.usageChunks),
      s.proxyIdleRssMb === null ? '–' : `${fmt(s.proxyIdleRssMb)} / ${fmt(s.proxyWindowRssMb)} / ${fmt(s.proxyEndRssMb)}`,
      `${fmt(s.loadgenCpuPct)} / ${fmt(s.backendCpuPct)} / ${fmt(s.proxyCpuPct)} / ${fmt(s.otherCpuPct)} (${fmt(s.interruptCpuPct)})`,
      fmt(s.machineBusyPct),
    ];
  });
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** What the LLM accounting (scanning + usage injection) costs per token: proxy-1w against proxy-1w-plain, differences of medians. */
export function accountingCost(summaries: readonly StreamSummary[]): string[] {
  const cpu = (name: string): number | null => summaries.find((s) => s.target === name)?.proxyCpuUsPerToken ?? null;
  const full = cpu('proxy-1w');
  const plain = cpu(PLAIN_TARGET);
  if (full === null || plain === null) return [];
  const pct = `${full - plain >= 0 ? '+' : '−'}${fmt((Math.abs(full - plain) / plain) * 100)}%`;
  return [
    `Accounting cost per relayed token (proxy CPU, difference of medians, so noisy when small): scanning + usage injection (proxy-1w − ${PLAIN_TARGET}) ${delta(full, plain, 2)} µs (${pct}).`,
  ];
}

/** Plain-language warnings, one line per target. */
export function streamFindings(summaries: readonly StreamSummary[]): string[] {
  const notes: string[] = [];
  const expectedGap = STREAM.tokenDelayMs;
  for (const s of summaries) {
    const issues: string[] = [];
    if (s.backendCpuPct !== null && s.backendCpuPct >= 80)
      issues.push(`backend at ${fmt(s.backendCpuPct)}% of its one thread: it may delay tokens itself`);
    if (s.loadgenCpuPct >= 80) issues.push(`client at ${fmt(s.loadgenCpuPct)}% of its one thread: its own event loop may stretch the gaps`);
    if (s.machineBusyPct >= 95) issues.push(`machine ${fmt(s.machineBusyPct)}% busy: the 2 shared cores are the limit`);
    const outside = s.otherCpuPct - s.interruptCpuPct;
    if (outside >= 20) issues.push(`${fmt(outside)}% of a core used by other processes (shared machine) or the kernel: noisy`);
    if (s.failed > 0) issues.push(`${s.failed} failed streams (${s.errorSamples.join('; ') || 'no message'})`);
    if (s.lostTokens > 0) issues.push(`${fmt(s.lostTokens)} tokens lost`);
    if (s.usageChunks > 0 && INJECTING_TARGETS.includes(s.target))
      issues.push(`${s.usageChunks} usage chunks reached a client that did not ask for usage`);
    if (s.gapP50 !== null && Math.abs(s.gapP50 - expectedGap) > expectedGap * 0.25)
      issues.push(`median inter-token gap ${fmt(s.gapP50, 2)} ms, expected ~${expectedGap} ms`);
    if (s.batchedPct !== null && s.batchedPct >= 5)
      issues.push(`${fmt(s.batchedPct, 1)}% of tokens arrived < 1 ms after the previous one of their stream (batched)`);
    if (s.target !== 'direct' && s.proxyCpuUsPerToken === null) issues.push('proxy CPU unknown (a worker came or went during every run)');
    if (issues.length > 0) notes.push(`stream ${s.streams}/${s.target}: ${issues.join('; ')}.`);
  }
  return notes;
}
