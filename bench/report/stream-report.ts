import type { StreamRunResult } from '../measurement/measure-stream.js';
import { known, median, medianOrNull } from '../measurement/stats.js';
import { DIRECT_TARGET, findReferences, INJECTING_TARGETS, PLAIN_TARGET, PROXY_TARGET } from '../targets/target-names.js';
import { STREAM } from '../workloads/workloads.js';
import { fmt, markdownTable, ratio, signed } from './markdown.js';

/** Medians over the repetitions of one target at one stream count; the counts of streams, tokens and chunks are summed. */
export type StreamSummary = Pick<
  StreamRunResult,
  | 'target'
  | 'streams'
  | 'tokensPerSec'
  | 'completed'
  | 'failed'
  | 'lostTokens'
  | 'usageChunks'
  | 'batchedPct'
  | 'ttftP50'
  | 'ttftP99'
  | 'gapP50'
  | 'gapP99'
  | 'proxyCpuUsPerToken'
  | 'backendCpuUsPerToken'
  | 'proxyCpuPct'
  | 'backendCpuPct'
  | 'loadgenCpuPct'
  | 'machineBusyPct'
  | 'otherCpuPct'
  | 'interruptCpuPct'
  | 'proxyIdleRssMb'
  | 'proxyWindowRssMb'
  | 'proxyEndRssMb'
  | 'proxyRssMbPer1kStreams'
  | 'errorSamples'
> & { runs: number; proxyCpuUsPerTokenMin: number | null; proxyCpuUsPerTokenMax: number | null };

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
    ttftP99: medianOrNull(runs.map((r) => r.ttftP99)),
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

const delta = (v: number | null, base: number | null, digits = 1): string => (v === null || base === null ? '–' : signed(v - base, digits));

/** One markdown table for one stream count: medians per target, ratios to `direct`, nginx and the simple undici proxy. */
export function renderStreamTable(summaries: readonly StreamSummary[]): string {
  const { direct, nginx, simple } = findReferences(summaries);
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
    'TTFT p99 ms',
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
      fmt(s.ttftP99, 2),
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
  return markdownTable(header, rows);
}

/** What the LLM accounting (scanning + usage injection) costs per token: proxy-1w against proxy-1w-plain, differences of medians. */
export function accountingCost(summaries: readonly StreamSummary[]): string[] {
  const cpu = (name: string): number | null => summaries.find((s) => s.target === name)?.proxyCpuUsPerToken ?? null;
  const full = cpu(PROXY_TARGET);
  const plain = cpu(PLAIN_TARGET);
  if (full === null || plain === null) return [];
  const pct = `${signed(((full - plain) / plain) * 100, 0)}%`;
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
    if (s.target !== DIRECT_TARGET && s.proxyCpuUsPerToken === null)
      issues.push('proxy CPU unknown (a worker came or went during every run)');
    if (issues.length > 0) notes.push(`stream ${s.streams}/${s.target}: ${issues.join('; ')}.`);
  }
  return notes;
}
