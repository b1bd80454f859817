import type { CompletionRequestInfo } from './inspect-request.js';

const OPEN_BRACE = 0x7b;
const INSERTED = Buffer.from('"stream_options":{"include_usage":true},');
const INSERTED_EMPTY_OBJECT = Buffer.from('"stream_options":{"include_usage":true}');

/** True when the proxy should ask for usage on the client's behalf: a stream that did not ask itself. */
export function needsUsageInjection(info: CompletionRequestInfo): boolean {
  return info.stream && !info.includeUsage && info.json !== null;
}

/**
 * The body with `stream_options.include_usage: true` added. Without `stream_options` the field is inserted
 * after the opening brace, leaving every other byte as the client sent it; with one (e.g. include_usage
 * false, or other options), the parsed body is serialised again with the flag set.
 */
export function injectUsageRequest(body: Buffer, info: CompletionRequestInfo): Buffer {
  const json = info.json as Record<string, unknown>;
  if (!('stream_options' in json)) {
    const brace = body.indexOf(OPEN_BRACE);
    const rest = body.subarray(brace + 1);
    const empty = Object.keys(json).length === 0;
    return Buffer.concat([body.subarray(0, brace + 1), empty ? INSERTED_EMPTY_OBJECT : INSERTED, rest]);
  }
  const options = json.stream_options;
  const existing = typeof options === 'object' && options !== null && !Array.isArray(options) ? (options as Record<string, unknown>) : {};
  const merged: Record<string, unknown> = { ...existing, include_usage: true };
  // vLLM's continuous_usage_stats only acts with include_usage; the client had it off, so keep it off,
  // or usage would appear in every chunk the client receives.
  if (existing.continuous_usage_stats === true) merged.continuous_usage_stats = false;
  return Buffer.from(JSON.stringify({ ...json, stream_options: merged }));
}
