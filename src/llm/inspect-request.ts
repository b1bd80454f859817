/** What the proxy learns from an OpenAI-style completion request body. */
export interface CompletionRequestInfo {
  readonly model: string | null;
  readonly stream: boolean;
}

const UNKNOWN: CompletionRequestInfo = Object.freeze({ model: null, stream: false });

/**
 * Reads `model` and `stream` from the body. A body that is not a JSON object is still forwarded
 * unchanged (the backend is the authority on its own API); it simply yields no detail.
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
  const { model, stream } = parsed as { model?: unknown; stream?: unknown };
  return {
    model: typeof model === 'string' ? model.slice(0, 256) : null,
    stream: stream === true,
  };
}
