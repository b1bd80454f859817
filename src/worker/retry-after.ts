/** A backend's Retry-After is honoured up to this long: it must not park a backend for an hour. */
export const MAX_HOLD_MS = 60_000;

/**
 * Retry-After (RFC 9110 10.2.3) in ms from now: delay-seconds or an HTTP-date, capped at MAX_HOLD_MS;
 * null when absent or unreadable.
 */
export function retryAfterMs(value: string | string[] | undefined, nowMs = Date.now()): number | null {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (text === undefined || text === '') return null;
  let ms: number;
  if (/^\d+$/.test(text)) ms = Number(text) * 1000;
  else {
    const at = Date.parse(text);
    if (Number.isNaN(at)) return null;
    ms = at - nowMs;
  }
  return ms <= 0 ? null : Math.min(ms, MAX_HOLD_MS);
}
