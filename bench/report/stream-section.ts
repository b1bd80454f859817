import type { BenchArgs } from '../bench-args.js';
import type { StreamRunResult } from '../measurement/measure-stream.js';
import type { DescribedTarget } from '../targets/target-defs.js';
import { DIRECT_TARGET } from '../targets/target-names.js';
import { STREAM, STREAM_DRAIN_MS, STREAM_LIFETIME_MS, streamWarmupMs } from '../workloads/workloads.js';
import { accountingCost, renderStreamTable, type StreamSummary, streamFindings, summarizeStream } from './stream-report.js';

/** The stream part of the report: how it was run, one table per stream count, and memory per open stream. */
export function renderStreamSection(
  runs: readonly StreamRunResult[],
  targets: readonly DescribedTarget[],
  upstreamConnections: number,
  args: BenchArgs,
): { section: string; summaries: Record<string, StreamSummary[]> } {
  const names = targets.map((t) => t.name);
  const summaries: Record<string, StreamSummary[]> = {};
  const tables: string[] = [];
  for (const streams of args.streams) {
    const list = names.map((t) =>
      summarizeStream(
        t,
        streams,
        runs.filter((r) => r.streams === streams && r.target === t),
      ),
    );
    summaries[String(streams)] = list;
    tables.push(streamTable(streams, list, args));
  }
  const intro = streamIntro(targets, upstreamConnections, args);
  return { section: [intro, ...tables, ...rssSlope(args.streams, names, summaries)].join('\n\n'), summaries };
}

function streamTable(streams: number, list: readonly StreamSummary[], args: BenchArgs): string {
  const notes = [...accountingCost(list), ...streamFindings(list)];
  return [
    `### stream: ${streams} concurrent streams`,
    '',
    `${streams} streams kept open (each one that ends is replaced at once), ${STREAM.tokens} tokens each ${STREAM.tokenDelayMs} ms apart, ` +
      `${args.reps} × ${args.duration} s per target, medians; per-token CPU = process-tree CPU over the window ÷ content events the client received in it.`,
    '',
    renderStreamTable(list),
    '',
    ...notes.map((n) => `- ${n}`),
  ].join('\n');
}

/** What the client does, how a run is timed, what the targets are and what the columns mean. */
function streamIntro(targets: readonly DescribedTarget[], upstreamConnections: number, args: BenchArgs): string {
  const names = targets.map((t) => t.name);
  return [
    `## stream: streamed POST chat completions, ${STREAM.tokens} tokens ${STREAM.tokenDelayMs} ms apart, ttft ${STREAM.ttftMs} ms`,
    '',
    `- Client: an undici Pool (one connection per stream) in the bench process, \`request()\` and reading every body chunk; the request has \`"stream":true\` and no \`stream_options\` (it does not ask for usage). Backend pacing per request: \`x-mock-ttft-ms: ${STREAM.ttftMs}\`, \`x-mock-token-delay-ms: ${STREAM.tokenDelayMs}\` (the mock writes each event separately).`,
    `- Each run: the N streams start spread evenly over one stream lifetime (${STREAM_LIFETIME_MS} ms) so they are not in lockstep; ${Math.ceil(streamWarmupMs(args.warmup) / 1000)} s uncounted warm-up; a ${args.duration} s measured window; then no new streams and up to ${(STREAM_DRAIN_MS / 1000).toFixed(1)} s for the open ones to end (the rest would be aborted and counted as failed). Targets alternated (${names.join(', ')}, …, each repetition starting one target later), all started up front and idle while another one is measured.`,
    `- Targets: ${targets.map((t) => `\`${t.name}\` = ${t.about}`).join('; ')}. Our proxies with \`--upstream-connections ${upstreamConnections}\`, the Node baselines with an undici Pool of ${upstreamConnections} connections, so no stream queues for a backend connection; nginx opens what it needs (\`keepalive 64\` only bounds the idle ones it keeps). With injection (proxy-1w, proxy-2w) the backend adds \`"usage":null\` to every chunk (~13 more bytes/token relayed) and sends one usage chunk that the proxy removes.`,
    '- Columns: tokens = content events (`"content":" tok…`) counted by the client inside the window; tokens lost = Σ over every stream of the run (warm-up and drain included) of 128 − tokens received; TTFT = request start → first content event, for streams started in the window (its p50 and p99 in each run, the median over the runs); gap = time between two consecutive content events of a stream as the client reads them (~20 ms means each token is relayed on its own; < 1 ms = it came in the same burst as the previous one, counted in "tokens < 1 ms after previous %"); usage chunks seen = usage-only chunks that reached the client (must be 0: the client did not ask); RSS = VmRSS of the process tree (primary + workers, nginx master + worker): idle (just before the ramp-up of the run), window (median of 3 samples at 25/50/75 % of the window), end (end of window, streams still open); "vs nginx" / "vs simple-undici" = proxy CPU per token relative to theirs.',
  ].join('\n');
}

/**
 * Memory per open stream from two stream counts: the difference of the window RSS medians, so the garbage a
 * process carries regardless of load cancels out (unlike window minus idle, which depends on when V8 last collected).
 */
function rssSlope(streamCounts: readonly number[], names: readonly string[], summaries: Record<string, StreamSummary[]>): string[] {
  const low = Math.min(...streamCounts);
  const high = Math.max(...streamCounts);
  if (low === high) return [];
  const lines = names
    .filter((t) => t !== DIRECT_TARGET)
    .map((target) => {
      const at = (n: number): number | null => summaries[String(n)]?.find((s) => s.target === target)?.proxyWindowRssMb ?? null;
      const a = at(low);
      const b = at(high);
      const slope = a === null || b === null ? '–' : (((b - a) / (high - low)) * 1000).toFixed(1);
      return `| ${target} | ${a?.toFixed(0) ?? '–'} | ${b?.toFixed(0) ?? '–'} | ${slope} |`;
    });
  return [
    [
      `### stream: proxy memory per open stream (${low} vs ${high} streams)`,
      '',
      `Window RSS (median of the in-window samples, whole process tree) at ${low} and ${high} open streams, and the slope in MB per 1,000 open streams.`,
      '',
      `| target | RSS MB at ${low} | RSS MB at ${high} | MB per 1k streams |`,
      '| --- | --- | --- | --- |',
      ...lines,
    ].join('\n'),
  ];
}
