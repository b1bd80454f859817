/** A worker that lived at least this long before dying is treated as a fresh failure, not part of a loop. */
export const STABLE_UPTIME_MS = 10_000;
export const RESTART_BASE_DELAY_MS = 200;
export const RESTART_MAX_DELAY_MS = 30_000;
/** From this many quick deaths in a row on one slot, every death is logged at error level as a crash loop. */
export const CRASH_LOOP_THRESHOLD = 3;

/**
 * Delay before restarting a slot after its `failures`-th quick death in a row: the first restart is
 * immediate (one kill -9 must not cost capacity for long), then 400 ms, 800 ms ... capped at 30 s.
 */
export function restartDelayMs(failures: number): number {
  if (failures <= 1) return 0;
  return Math.min(RESTART_BASE_DELAY_MS * 2 ** (failures - 1), RESTART_MAX_DELAY_MS);
}
