/** What the proxy learns from an OpenAI-style completion request body. */
export interface CompletionRequestInfo {
  readonly model: string | null;
  readonly stream: boolean;
  /** stream_options.include_usage as the client sent it. */
  readonly includeUsage: boolean;
  /** The parsed body when it is a JSON object, for a usage-injection rewrite; null otherwise. */
  readonly json: Record<string, unknown> | null;
}

const MAX_MODEL_LENGTH = 256;
const UNKNOWN: CompletionRequestInfo = Object.freeze({ model: null, stream: false, includeUsage: false, json: null });

/**
 * Reads `model`, `stream` and `stream_options.include_usage` from the body. A body that is not a
 * JSON object is still forwarded unchanged (the backend is the authority on its own API); it simply
 * yields no detail.
 */
export function inspectCompletionRequest(body: Buffer): CompletionRequestInfo {
  if (body.length === 0) return UNKNOWN;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return UNKNOWN;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return UNKNOWN;
  const json = parsed as Record<string, unknown>;
  const { model, stream } = json;
  const options = json.stream_options;
  return {
    model: typeof model === 'string' ? model.slice(0, MAX_MODEL_LENGTH) : null,
    stream: stream === true,
    includeUsage: typeof options === 'object' && options !== null && (options as { include_usage?: unknown }).include_usage === true,
    json,
  };
}
