/** Token counts reported by the backend in an OpenAI `usage` object. */
export interface Usage {
  readonly promptTokens: number;
  readonly completionTokens: number;
}

const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

/** Reads `usage` from a parsed OpenAI response or chunk; null unless both counts are sane integers. */
export function usageFrom(parsed: unknown): Usage | null {
  if (typeof parsed !== 'object' || parsed === null) return null;
  const usage = (parsed as { usage?: unknown }).usage;
  if (typeof usage !== 'object' || usage === null) return null;
  const { prompt_tokens: prompt, completion_tokens: completion } = usage as Record<string, unknown>;
  if (!isCount(prompt) || !isCount(completion)) return null;
  return { promptTokens: prompt, completionTokens: completion };
}
