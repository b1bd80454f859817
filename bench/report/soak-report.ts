import { availableParallelism } from 'node:os';
import { cpuModel } from '../measurement/machine.js';
import type { LogCounts } from '../measurement/soak-log.js';
import type { ProcessSample, Snapshot } from '../measurement/soak-snapshot.js';
import type { TimelinePoint } from '../measurement/soak-timeline.js';
import type { SoakArgs } from '../soak-args.js';
import type { KindTally, PhaseResult } from '../workloads/soak-load.js';
import { FRESH_CONNECTION_EVERY, SOAK_KINDS } from '../workloads/soak-mix.js';
import { markdownTable } from './markdown.js';
import { FLAT_RSS_GROWTH, judgeSoak } from './soak-verdict.js';

const MIB = 1024 * 1024;
// The soak's own cells: plain toFixed and 'n/a', as in every soak report so far.
const fmt = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const signed = (n: number, digits = 1): string => (Number.isFinite(n) ? `${n >= 0 ? '+' : ''}${n.toFixed(digits)}` : 'n/a');
const percent = (before: number, after: number): string => (before > 0 ? `${signed(((after - before) / before) * 100)} %` : 'n/a');

export interface SoakRun {
  args: SoakArgs;
  workers: number;
  startedAt: Date;
  warmup: PhaseResult;
  measured: PhaseResult;
  before: Snapshot;
  after: Snapshot;
  logged: LogCounts;
  /** RSS sampled during the measured phase. */
  underLoad: TimelinePoint[];
}

/** bench/results/soak.md: before/after per process and from /metrics, the verdict, then what the load did. */
export function renderSoakReport(run: SoakRun): string {
  const { args, before, after } = run;
  const workersSame = before.workers.map((w) => w.pid).join() === after.workers.map((w) => w.pid).join();
  const verdict = judgeSoak(before, after, workersSame);
  return [
    '# Soak',
    '',
    `${run.startedAt.toISOString()}, Node ${process.version}, ${availableParallelism()} CPUs (${cpuModel()}); proxy with ${run.workers} workers, ` +
      `access log ${args.accessLog}, simulated backend; all on loopback. Command: ` +
      `\`node dist/bench/soak.js --seconds ${args.seconds} --concurrency ${args.concurrency} --warmup-fraction ${args.warmupFraction} ` +
      `--settle-seconds ${args.settleSeconds} --access-log ${args.accessLog} --gc ${args.gc ? 'on' : 'off'} --seed ${args.seed}\`.`,
    '',
    `Warm-up ${fmt(run.warmup.seconds)} s (${run.warmup.sent} requests), then the "before" snapshot; measured phase ${fmt(run.measured.seconds)} s, ` +
      `then the "after" snapshot. Each snapshot follows ${args.settleSeconds} s of quiet with every client connection closed` +
      (args.gc ? ', and two forced full garbage collections in every proxy process (inspector, opened before the first snapshot).' : '.'),
    '',
    markdownTable(
      ['measure', 'before', 'after', 'delta', 'delta %'],
      [...processRows(before, after, args.gc), ...metricRows(before, after)],
    ),
    '',
    `**Verdict: ${verdict.flat ? 'flat' : 'NOT flat'}** (flat: RSS growth < ${FLAT_RSS_GROWTH * 100} % per process after the warm-up, ` +
      'fds and active handles back to baseline, nothing in flight).' +
      (verdict.notes.length > 0 ? `\n\n${verdict.notes.map((n) => `- ${n}`).join('\n')}` : ''),
    '',
    ...measuredPhase(run),
  ].join('\n');
}

function processRows(before: Snapshot, after: Snapshot, gc: boolean): string[][] {
  const rows: string[][] = [];
  const add = (name: string, b: ProcessSample, a: ProcessSample | undefined): void => {
    const label = `${name} (pid ${b.pid}${a !== undefined && a.pid !== b.pid ? ` -> ${a.pid}` : ''})`;
    const aRss = a?.rssKb ?? Number.NaN;
    const aFds = a?.fds ?? Number.NaN;
    rows.push([`${label} RSS, MiB`, fmt(b.rssKb / 1024), fmt(aRss / 1024), signed((aRss - b.rssKb) / 1024), percent(b.rssKb, aRss)]);
    rows.push([`${label} open fds`, String(b.fds), String(aFds), signed(aFds - b.fds, 0), percent(b.fds, aFds)]);
    if (gc) {
      const bHeap = b.heapAfterGcBytes / MIB;
      const aHeap = (a?.heapAfterGcBytes ?? Number.NaN) / MIB;
      rows.push([`${label} heap used after full GC, MiB`, fmt(bHeap), fmt(aHeap), signed(aHeap - bHeap), percent(bHeap, aHeap)]);
    }
  };
  add('primary', before.primary, after.primary);
  for (const [i, w] of before.workers.entries()) add(`worker ${i + 1}`, w, after.workers[i]);
  return rows;
}

/** The /metrics rows: name, scale and the unit shown after the name. */
const METRIC_ROWS: readonly (readonly [string, number, string])[] = [
  ['process_resident_memory_bytes', MIB, ' (sum), MiB'],
  ['nodejs_heap_size_used_bytes', MIB, ' (sum), MiB'],
  ['nodejs_heap_size_total_bytes', MIB, ' (sum), MiB'],
  ['nodejs_external_memory_bytes', MIB, ' (sum), MiB'],
  ['nodejs_active_handles', 1, ' (sum over types)'],
  ['nodejs_active_requests', 1, ' (sum over types)'],
  ['process_open_fds', 1, ' (sum)'],
  ['in_flight_requests', 1, ''],
];

function metricRows(before: Snapshot, after: Snapshot): string[][] {
  return METRIC_ROWS.map(([name, scale, unit]) => {
    const b = (before.metrics[name] as number) / scale;
    const a = (after.metrics[name] as number) / scale;
    const digits = scale === 1 ? 0 : 1;
    return [`/metrics ${name}${unit}`, fmt(b, digits), fmt(a, digits), signed(a - b, digits), percent(b, a)];
  });
}

function measuredPhase(run: SoakRun): string[] {
  const { measured, before, after, logged } = run;
  const delta = (name: string): number => (after.metrics[name] as number) - (before.metrics[name] as number);
  const kindRows = SOAK_KINDS.map((kind) => {
    const tally = measured.byKind.get(kind.name) as KindTally;
    return [kind.name, String(tally.sent), String(tally.expected), String(tally.unexpected), tally.samples.join('; ') || ''];
  });
  const labelRows = [...measured.byLabel.entries()].sort((a, b) => b[1] - a[1]).map(([label, n]) => [label, String(n)]);
  return [
    '## Measured phase',
    '',
    `${measured.sent} requests in ${fmt(measured.seconds)} s: **${fmt(measured.sent / measured.seconds, 0)} requests/s** at concurrency ` +
      `${run.args.concurrency} (1 in ${FRESH_CONNECTION_EVERY} on a fresh connection). The proxy counted ${delta('input_requests_total')} arrivals and ${delta('output_requests_total')} ` +
      'ends in the same phase (input_requests_total, output_requests_total). Over the whole run the proxy logged ' +
      `${logged.warn} warnings, ${logged.error} errors and ${logged.workerDeaths} worker deaths.`,
    '',
    `RSS under load, MiB (sampled ${run.underLoad.length} times during the measured phase, from its start): ` +
      run.underLoad
        .map(
          (p) =>
            `${fmt(p.atSeconds, 0)} s: primary ${fmt(p.primaryKb / 1024)}, workers ${p.workersKb.map((kb) => fmt(kb / 1024)).join(' + ')}`,
        )
        .join('; ') +
      '.',
    '',
    markdownTable(['outcome', 'requests'], labelRows),
    '',
    markdownTable(['request kind', 'sent', 'as expected', 'unexpected', 'examples of unexpected'], kindRows),
    '',
  ];
}
