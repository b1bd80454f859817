import type { WireVerdict } from './admission-messages.js';
import type { RateView } from './gcra.js';
import { durationText } from './verdict.js';

/**
 * OpenAI's rate-limit headers, for the limits the key has: x-ratelimit-{limit,remaining,reset}-requests
 * from rpm and -tokens from tpm (reset: until the limit is whole again, written like `6m0s`).
 */
export function rateLimitHeaders(verdict: Pick<WireVerdict, 'requests' | 'tokens'>): string[] {
  const out: string[] = [];
  if (verdict.requests !== null) push(out, 'requests', verdict.requests);
  if (verdict.tokens !== null) push(out, 'tokens', verdict.tokens);
  return out;
}

/**
 * A refusal's headers: the rate-limit headers, Retry-After in whole seconds (RFC 9110 10.2.3) and
 * retry-after-ms (which the openai SDKs prefer), or, when waiting cannot help (the request asks more than
 * the limit, or the budget is spent), x-should-retry: false so that the SDKs do not retry at all.
 */
export function refusalHeaders(verdict: Pick<WireVerdict, 'requests' | 'tokens' | 'retryAfterMs' | 'limit'>): string[] {
  const out = rateLimitHeaders(verdict);
  const retryMs = verdict.retryAfterMs ?? null;
  if (retryMs !== null)
    out.push('retry-after', String(Math.max(1, Math.ceil(retryMs / 1000))), 'retry-after-ms', String(Math.ceil(retryMs)));
  if (retryMs === null || verdict.limit === 'budget') out.push('x-should-retry', 'false');
  return out;
}

function push(out: string[], unit: 'requests' | 'tokens', view: RateView): void {
  out.push(
    `x-ratelimit-limit-${unit}`,
    String(view.limit),
    `x-ratelimit-remaining-${unit}`,
    String(view.remaining),
    `x-ratelimit-reset-${unit}`,
    durationText(view.resetMs),
  );
}
