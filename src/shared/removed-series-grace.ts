/** A backend gone from the fleet (reload, DNS) keeps its series this long, so that a scrape sees its last counts. */
export const DEFAULT_REMOVED_SERIES_GRACE_MS = 5 * 60_000;
/** For tests only (not a flag): the grace in ms. Not INFERENCE_PROXY_*, which would read as a mistyped flag. */
export const REMOVED_SERIES_GRACE_ENV = 'NODE_INFERENCE_PROXY_REMOVED_SERIES_GRACE_MS';

/** The grace period before a removed backend's series stop being exported, in ms. */
export function removedSeriesGraceMs(env: Readonly<Record<string, string | undefined>> = process.env): number {
  const value = env[REMOVED_SERIES_GRACE_ENV];
  return value !== undefined && /^\d{1,9}$/.test(value) ? Number(value) : DEFAULT_REMOVED_SERIES_GRACE_MS;
}
