import type { Bracket } from '../measurement/overhead-stats.js';
import { PORTKEY_TARGET, SIMPLE_2W_TARGET, SIMPLE_TARGET } from '../targets/target-names.js';
import { ADDED_P99_LIMIT_MS } from '../workloads/overhead-workload.js';
import { fmt } from './markdown.js';
import type { RateSummary, SequentialSummary } from './overhead-report.js';

/** Issue 13, point 5: our sequential added p50 at most this, ms, and at most half of every Node peer's. */
const SEQUENTIAL_P50_TARGET_MS = 0.15;
/** The open-loop rate the tail targets are set at, req/s. */
const TAIL_RATE = 2000;
/** Our highest rate held: at least every Node peer's and this many times Portkey's. */
const PORTKEY_RATE_FACTOR = 5;

const OURS = ['proxy-1w', 'proxy-2w'];
const PEERS = [SIMPLE_TARGET, SIMPLE_2W_TARGET, 'fastify'];

/** The suffix of a name after one of ours (`-node24` of `proxy-1w-node24`); null when it is not ours. */
function oursSuffix(name: string): string | null {
  const base = OURS.find((o) => name === o || name.startsWith(`${o}-node`));
  return base === undefined ? null : name.slice(base.length);
}

/** One line per target of ours and per check, saying met or missed with the figures behind it. */
export function overheadTargetChecks(
  sequential: readonly SequentialSummary[],
  rates: readonly RateSummary[],
  held: readonly { target: string; bracket: Bracket }[],
): string[] {
  const lines: string[] = [];
  for (const row of sequential) {
    const suffix = oursSuffix(row.target);
    if (suffix === null) continue;
    const peers = PEERS.map((p) => `${p}${suffix}`);
    lines.push(sequentialCheck(row, sequential, peers));
    const tail = rates.find((r) => r.target === row.target && r.rate === TAIL_RATE);
    if (tail !== undefined) lines.push(tailCheck(tail, rates, peers));
    const mine = held.find((h) => h.target === row.target);
    if (mine !== undefined) lines.push(heldCheck(mine, held, peers));
  }
  return lines;
}

function verdict(ok: boolean): string {
  return ok ? 'met' : '**missed**';
}

function sequentialCheck(row: SequentialSummary, all: readonly SequentialSummary[], peers: readonly string[]): string {
  const peerRows = all.filter((r) => peers.includes(r.target) && r.addedP50 !== null);
  const half = peerRows.every((p) => row.addedP50 !== null && row.addedP50 <= p.addedP50! / 2);
  const ok = row.addedP50 !== null && row.addedP50 <= SEQUENTIAL_P50_TARGET_MS && half && peerRows.length > 0;
  return `${row.target}, sequential added p50 ≤ ${SEQUENTIAL_P50_TARGET_MS} ms and ≤ half of every Node peer's: ${verdict(ok)} (${fmt(row.addedP50, 3)} ms; ${peerRows.map((p) => `${p.target} ${fmt(p.addedP50, 3)}`).join(', ') || 'no peer ran'})`;
}

function tailCheck(row: RateSummary, all: readonly RateSummary[], peers: readonly string[]): string {
  const peerRows = all.filter((r) => r.rate === TAIL_RATE && peers.includes(r.target));
  const below = peerRows.every((p) => row.addedP99 !== null && (p.addedP99 === null || !p.held || row.addedP99 < p.addedP99));
  const ok = row.held && row.addedP99 !== null && row.addedP99 <= ADDED_P99_LIMIT_MS && below && peerRows.length > 0;
  return `${row.target}, added p99 at ${fmt(TAIL_RATE)} req/s ≤ ${ADDED_P99_LIMIT_MS} ms and below every Node peer's: ${verdict(ok)} (${fmt(row.addedP99, 2)} ms; ${peerRows.map((p) => `${p.target} ${fmt(p.addedP99, 2)}`).join(', ') || 'no peer ran'})`;
}

function heldCheck(
  mine: { target: string; bracket: Bracket },
  all: readonly { target: string; bracket: Bracket }[],
  peers: readonly string[],
): string {
  const rate = mine.bracket.held ?? 0;
  const peerRows = all.filter((h) => peers.includes(h.target));
  const portkey = all.find((h) => h.target === PORTKEY_TARGET);
  const overPeers = peerRows.every((p) => rate >= (p.bracket.held ?? 0));
  const overPortkey = portkey === undefined || rate >= PORTKEY_RATE_FACTOR * (portkey.bracket.held ?? 0);
  const ok = rate > 0 && overPeers && overPortkey && peerRows.length > 0 && portkey !== undefined;
  const shown = (h: { target: string; bracket: Bracket }): string => `${h.target} ${fmt(h.bracket.held)}`;
  return `${mine.target}, highest rate held ≥ every Node peer's and ≥ ${PORTKEY_RATE_FACTOR}× Portkey's: ${verdict(ok)} (${fmt(mine.bracket.held)} req/s; ${[...peerRows, ...(portkey === undefined ? [] : [portkey])].map(shown).join(', ') || 'no peer ran'})`;
}
