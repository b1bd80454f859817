import type { BenchArgs } from '../bench-args.js';
import type { DescribedTarget } from '../targets/target-defs.js';
import {
  ADDED_P99_LIMIT_MS,
  CLIENT_LATE_MS,
  OPEN_LOOP_CONNECTIONS,
  OPEN_LOOP_DRAIN_MS,
  OPEN_LOOP_MAX_BACKLOG_S,
  OPEN_LOOP_MAX_CONNECTIONS,
  SATURATED_SHARE,
  SEARCH_MAX_RATE,
  SEARCH_MIN_RATE,
  SEARCH_PRECISION,
  SEARCH_PROBE_S,
  SEARCH_WARMUP_MS,
  SEQUENTIAL_MAX_S,
  sequentialWarmupRounds,
} from '../workloads/overhead-workload.js';
import type { RateHeld } from '../workloads/run-overhead.js';
import { fmt, markdownTable } from './markdown.js';
import type { RateSummary, SequentialSummary } from './overhead-report.js';
import { overheadTargetChecks } from './overhead-verdicts.js';

export interface OverheadFacts {
  args: BenchArgs;
  targets: readonly DescribedTarget[];
  sequential: readonly SequentialSummary[];
  rates: readonly RateSummary[];
  held: readonly RateHeld[];
}

/** The overhead part of the report: how it measured, the sequential table, one table per rate, the rate held. */
export function renderOverheadSection(facts: OverheadFacts): string {
  const checks = overheadTargetChecks(facts.sequential, facts.rates, facts.held);
  return [
    '## overhead: the latency a proxy adds to a small request',
    '',
    ...method(facts),
    '',
    '### overhead: sequential, one keep-alive connection per arm',
    '',
    sequentialTable(facts.sequential),
    '',
    ...facts.args.rates.flatMap((rate) => [`### overhead: open loop at ${fmt(rate)} requests/s`, '', rateTable(facts.rates, rate), '']),
    '### overhead: highest rate held (added p99 under 10 ms)',
    '',
    heldTable(facts.held),
    ...(checks.length === 0 ? [] : ['', '### overhead: the targets of issue 13', '', ...checks.map((c) => `- ${c}`)]),
  ].join('\n');
}

function method({ args, targets }: OverheadFacts): string[] {
  return [
    `- Request: \`GET /version\` (24-byte JSON answer) through every target; Portkey serves /v1/* only, so it is asked \`GET /v1/models\` (forwarded to \`<backend>/v1/models\`, 102 bytes) and compared with \`direct-models\`, the backend asked the same. Our proxy answers /v1/models itself (issue 11), which is why the others keep /version.`,
    `- Client: a process of its own (\`bench/workloads/overhead-client.ts\`, on the bench's Node ${process.version} whatever \`--node\` says), one undici \`Client\` per connection, \`dispatch()\` with a bare handler; the mock backend and the targets share the same 2 cores with it, unpinned.`,
    `- **Sequential**: ${fmt(args.rounds)} measured rounds (after ${fmt(sequentialWarmupRounds(args.rounds))} uncounted) per repetition, at most ${SEQUENTIAL_MAX_S} s; a round is one request straight to the backend and one through the target, each on its own keep-alive connection, the first of the pair alternating every round. Added p50 = median of the per-round deltas (proxied − direct), IQR = their p75 − p25, added p99 = **p99 of the per-round deltas**; "p99 − p99" beside it is the proxied arm's p99 minus the direct arm's. \`direct\` against itself gives the floor of the method. Medians over ${args.reps} repetitions.`,
    `- **Open loop**: request k is due at start + k/rate and is sent when due whether or not earlier ones have answered; latency runs from its due time, not from when it was sent (no coordinated omission). ${OPEN_LOOP_CONNECTIONS} keep-alive connections opened up front and used in turn (first in, first out, so a cluster target's workers all get some), more opened when all are busy up to ${OPEN_LOOP_MAX_CONNECTIONS}; past that a request waits for one (counted in "(waited)", and its wait is in its latency), and beyond ${OPEN_LOOP_MAX_BACKLOG_S} s of the rate waiting it is not sent and counted as skipped. ${args.warmup} s uncounted warm-up, a ${args.duration} s window; requests due in the window get until ${OPEN_LOOP_DRAIN_MS / 1000} s after the last one is due, then count as unfinished. "Client late p99" is how late the client sent the requests that found a free connection, against their due times (timer granularity ~1 ms; above ${CLIENT_LATE_MS} ms the client, not the target, may shape the tail). Added = the target's quantile minus its reference's in the same repetition at the same rate, median over ${args.reps} repetitions; targets alternated, each repetition starting one later.`,
    `- **Rate held**: a target holds a rate when nothing is lost (failed, unfinished, skipped), at least ${SATURATED_SHARE * 100}% of the rate is answered in the window, and its added p99 is under ${ADDED_P99_LIMIT_MS} ms. From the fixed rates' verdicts, up to ${args.searchProbes} probes bisect (log scale) between ${fmt(SEARCH_MIN_RATE)} and ${fmt(SEARCH_MAX_RATE)} req/s until the bracket is within ${SEARCH_PRECISION}×; a probe is ${SEARCH_WARMUP_MS / 1000} s warm-up + ${Math.min(args.duration, SEARCH_PROBE_S)} s window of the reference, then the same of the target (one repetition: an estimate, not a median); when the reference itself lost requests or had a p99 over ${ADDED_P99_LIMIT_MS} ms the pair is run once more, and a probe still judged on such a reference is marked "reference noisy".`,
    '- Proxy CPU µs/req: process-tree CPU over the open-loop window ÷ 2xx responses in it (the small workload is the figure to quote for CPU; this one is at a fixed rate, not at saturation).',
    '- Targets:',
    ...targets.map((t) => `  - \`${t.name}\`: ${t.about}`),
  ];
}

function ms(v: number | null, digits = 3): string {
  return fmt(v, digits);
}

function sequentialTable(rows: readonly SequentialSummary[]): string {
  return markdownTable(
    ['target', 'vs', 'added p50 ms', 'IQR ms', 'added p99 ms', 'p99 − p99 ms', 'direct p50 ms', 'proxied p50 ms', 'rounds', 'failed'],
    rows.map((r) => [
      r.target,
      r.reference,
      ms(r.addedP50),
      ms(r.addedIqr),
      ms(r.addedP99),
      ms(r.p99Difference),
      ms(r.directP50),
      ms(r.proxiedP50),
      fmt(r.rounds) + (r.cut ? ' (cut)' : ''),
      fmt(r.failed),
    ]),
  );
}

function rateTable(rows: readonly RateSummary[], rate: number): string {
  return markdownTable(
    [
      'target',
      'p50 ms',
      'p99 ms',
      'added p50 ms',
      'added p99 ms',
      'achieved req/s',
      'failed / unfinished / skipped',
      'client late p99 ms',
      'connections (waited)',
      'proxy CPU µs/req',
      'holds',
    ],
    rows
      .filter((r) => r.rate === rate)
      .map((r) => [
        r.target,
        ms(r.p50),
        ms(r.p99, 2),
        ms(r.addedP50),
        ms(r.addedP99, 2),
        fmt(r.achievedRate),
        `${fmt(r.failed)} / ${fmt(r.unfinished)} / ${fmt(r.skipped)} of ${fmt(r.due)}`,
        ms(r.latenessP99, 2),
        `${fmt(r.connectionsOpened)} (${fmt(r.waited)})`,
        fmt(r.proxyCpuUsPerReq),
        r.held ? 'yes' : '**no**',
      ]),
  );
}

function heldTable(rows: readonly RateHeld[]): string {
  return markdownTable(
    ['target', 'highest rate held req/s', 'lowest rate not held req/s', 'search probes (rate: held?, p99 vs reference p99 ms)'],
    rows.map((r) => [
      r.target,
      r.bracket.held === null ? `none (< ${fmt(r.bracket.failed)})` : fmt(r.bracket.held),
      r.bracket.failed === null ? `none up to ${fmt(SEARCH_MAX_RATE)}` : fmt(r.bracket.failed),
      r.probes.length === 0
        ? '–'
        : r.probes
            .map(
              (p) =>
                `${fmt(p.rate)}: ${p.held ? 'yes' : 'no'} (${ms(p.p99, 1)} vs ${ms(p.referenceP99, 1)}${p.referenceNoisy ? ', reference noisy' : ''})`,
            )
            .join('; '),
    ]),
  );
}
