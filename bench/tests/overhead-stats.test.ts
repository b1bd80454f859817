import assert from 'node:assert/strict';
import { test } from 'node:test';
import { added, bracketOf, holdsRate, iqr, nextProbeRate, quantile, roundRate, summarizeRounds } from '../measurement/overhead-stats.js';
import type { OpenLoopRun } from '../report/overhead-report.js';
import { bracketFrom, probeHeld, summarizeRate } from '../report/overhead-report.js';

test('quantile is nearest-rank over the values, unsorted input left as it was', () => {
  const values = [5, 1, 4, 2, 3];
  assert.equal(quantile(values, 0.5), 3);
  assert.equal(quantile(values, 0), 1);
  assert.equal(quantile(values, 1), 5);
  assert.equal(quantile(values, 0.99), 5);
  assert.equal(quantile(values, 0.2), 1);
  assert.equal(quantile(values, 0.21), 2);
  assert.deepEqual(values, [5, 1, 4, 2, 3]);
  assert.equal(quantile([], 0.5), null);
});

test('p99 of 100 values is the 99th, of 1000 the 990th', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(quantile(hundred, 0.99), 99);
  const thousand = Array.from({ length: 1000 }, (_, i) => 1000 - i);
  assert.equal(quantile(thousand, 0.99), 990);
});

test('rounds pair by index: the deltas are proxied minus direct of the same round', () => {
  // A slow round (both arms +10) cancels out in the deltas but not in the arms' own tails.
  const direct = [1, 1, 11, 1];
  const proxied = [1.5, 1.25, 11.5, 2];
  const s = summarizeRounds(direct, proxied);
  assert.deepEqual([s.deltaP25, s.deltaP50, s.deltaP75, s.deltaP99], [0.25, 0.5, 0.5, 1]);
  assert.equal(s.directP99, 11);
  assert.equal(s.proxiedP99, 11.5);
  assert.equal(s.proxiedP50, 1.5);
  assert.throws(() => summarizeRounds([1], [1, 2]), /rounds differ/);
});

test('no rounds give unknown quantiles, not zeros', () => {
  const s = summarizeRounds([], []);
  assert.equal(s.deltaP50, null);
  assert.equal(iqr(s.deltaP25, s.deltaP75), null);
});

test('iqr and added are differences, unknown when a side is', () => {
  assert.equal(iqr(0.25, 0.75), 0.5);
  assert.equal(added(3, 1), 2);
  assert.equal(added(null, 1), null);
  assert.equal(added(1, null), null);
});

test('a rate is held only with nothing lost, the rate answered and the added p99 under the limit', () => {
  assert.equal(holdsRate({ addedP99: 9.9, achievedShare: 1, lost: 0 }, 10, 0.95), true);
  assert.equal(holdsRate({ addedP99: 10, achievedShare: 1, lost: 0 }, 10, 0.95), false);
  assert.equal(holdsRate({ addedP99: 1, achievedShare: 0.9, lost: 0 }, 10, 0.95), false);
  assert.equal(holdsRate({ addedP99: 1, achievedShare: 1, lost: 1 }, 10, 0.95), false);
  assert.equal(holdsRate({ addedP99: null, achievedShare: 1, lost: 0 }, 10, 0.95), false);
});

test('the bracket starts below the lowest failure, whatever held above it', () => {
  assert.deepEqual(
    bracketOf([
      { rate: 500, held: true },
      { rate: 2000, held: false },
      { rate: 5000, held: true },
    ]),
    { held: 500, failed: 2000 },
  );
  assert.deepEqual(bracketOf([{ rate: 500, held: false }]), { held: null, failed: 500 });
  assert.deepEqual(bracketOf([]), { held: null, failed: null });
});

test('the search bisects on a log scale, to two significant digits', () => {
  assert.equal(roundRate(2236.07), 2200);
  assert.equal(roundRate(707.1), 710);
  assert.equal(roundRate(99.4), 99);
  assert.equal(nextProbeRate({ held: 500, failed: 2000 }, 100, 10_000, 1.2), 1000);
  assert.equal(nextProbeRate({ held: 5000, failed: null }, 100, 10_000, 1.2), 7100);
  assert.equal(nextProbeRate({ held: null, failed: 500 }, 100, 10_000, 1.2), 220);
});

test('the search stops when the bracket is narrow or pinned at a bound', () => {
  assert.equal(nextProbeRate({ held: 1000, failed: 1100 }, 100, 10_000, 1.2), null);
  assert.equal(nextProbeRate({ held: 10_000, failed: null }, 100, 10_000, 1.2), null);
  assert.equal(nextProbeRate({ held: null, failed: 100 }, 100, 10_000, 1.2), null);
  // Close under the top: the top itself is tried; close over the bottom: the bottom.
  assert.equal(nextProbeRate({ held: 9000, failed: null }, 100, 10_000, 1.2), 10_000);
  assert.equal(nextProbeRate({ held: null, failed: 110 }, 100, 10_000, 1.2), 100);
});

test('a search driven by a target that holds up to 3000 req/s ends bracketing 3000', () => {
  const probes = [
    { rate: 500, held: true },
    { rate: 2000, held: true },
    { rate: 5000, held: false },
  ];
  for (let i = 0; i < 10; i++) {
    const rate = nextProbeRate(bracketOf(probes), 100, 10_000, 1.2);
    if (rate === null) break;
    probes.push({ rate, held: rate <= 3000 });
  }
  const { held, failed } = bracketOf(probes);
  assert.ok(held !== null && failed !== null && held <= 3000 && failed > 3000 && failed / held <= 1.2, `${held}–${failed}`);
});

function run(target: string, rep: number, p50: number, p99: number, more: Partial<OpenLoopRun> = {}): OpenLoopRun {
  return {
    target,
    reference: 'direct',
    rep,
    rate: 2000,
    due: 10_000,
    answered: 10_000,
    failed: 0,
    unfinished: 0,
    skipped: 0,
    achievedRate: 2000,
    latency: { p50, p90: null, p99, p999: null, max: null },
    lateness: { p50: 0.1, p99: 0.5, max: 1 },
    waitedForConnection: 0,
    connectionWaitP99: null,
    connectionsOpened: 64,
    errorSamples: [],
    proxyCpuUsPerReq: null,
    proxyCpuPct: null,
    backendCpuPct: null,
    clientCpuPct: null,
    machineBusyPct: 50,
    ...more,
  };
}

test('open-loop added figures are against the reference of the same repetition, then the median', () => {
  const runs = [
    run('direct', 1, 1, 2),
    run('direct', 2, 1, 20),
    run('direct', 3, 1, 3),
    run('proxy-1w', 1, 1.5, 6),
    run('proxy-1w', 2, 1.25, 26),
    run('proxy-1w', 3, 1.5, 5),
    run('proxy-1w', 0, 9, 99),
  ];
  const summary = summarizeRate('proxy-1w', 2000, runs);
  // Per repetition: p99 +4, +6, +2 → median +4; p50 +0.5, +0.25, +0.5 → +0.5. The probe (rep 0) is not counted.
  assert.equal(summary.addedP99, 4);
  assert.equal(summary.addedP50, 0.5);
  assert.equal(summary.due, 30_000);
  assert.equal(summary.held, true);
  const lossy = summarizeRate('proxy-1w', 2000, [...runs.slice(0, 3), run('proxy-1w', 1, 1, 2, { unfinished: 3 })]);
  assert.equal(lossy.lost, 3);
  assert.equal(lossy.held, false);
});

test('a probe holds on its own pair of runs, and the fixed rates seed the bracket', () => {
  assert.equal(probeHeld(run('proxy-1w', 0, 1, 12), run('direct', 0, 1, 3)), true);
  assert.equal(probeHeld(run('proxy-1w', 0, 1, 14), run('direct', 0, 1, 3)), false);
  assert.equal(probeHeld(run('proxy-1w', 0, 1, 4, { achievedRate: 1000 }), run('direct', 0, 1, 3)), false);
  const fixed = [summarizeRate('proxy-1w', 2000, [run('direct', 1, 1, 2), run('proxy-1w', 1, 1, 3)])];
  assert.deepEqual(bracketFrom(fixed, [{ rate: 3000, held: false }]), { held: 2000, failed: 3000 });
});
