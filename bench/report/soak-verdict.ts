import type { Snapshot } from '../measurement/soak-snapshot.js';

/** RSS growth over the measured phase below this fraction counts as flat. */
export const FLAT_RSS_GROWTH = 0.1;

export interface Verdict {
  flat: boolean;
  notes: string[];
}

/** Flat: every process grew less than FLAT_RSS_GROWTH and holds no more fds, handles are back, nothing in flight. */
export function judgeSoak(before: Snapshot, after: Snapshot, workersSame: boolean): Verdict {
  const notes: string[] = [];
  const processes = [
    ['primary', before.primary, after.primary],
    ...before.workers.map((w, i) => [`worker ${i + 1}`, w, after.workers[i]] as const),
  ] as const;
  if (!workersSame) notes.push('the worker processes changed during the soak (a worker died): per-worker rows compare different processes');
  for (const [name, b, a] of processes) {
    if (a === undefined) continue;
    const growth = (a.rssKb - b.rssKb) / b.rssKb;
    if (growth >= FLAT_RSS_GROWTH) notes.push(`${name} RSS grew ${(growth * 100).toFixed(1)} % (limit ${FLAT_RSS_GROWTH * 100} %)`);
    if (a.fds > b.fds) notes.push(`${name} holds ${a.fds - b.fds} more file descriptors`);
  }
  const handles = after.metrics.nodejs_active_handles as number;
  if (handles > (before.metrics.nodejs_active_handles as number)) {
    notes.push(`nodejs_active_handles did not return to baseline (${before.metrics.nodejs_active_handles} -> ${handles})`);
  }
  if ((after.metrics.in_flight_requests as number) !== 0) notes.push(`in_flight_requests is ${after.metrics.in_flight_requests}, not 0`);
  return { flat: notes.length === 0, notes };
}
