import type { CompletionKind } from '../llm/completion-kind.js';

/** Everything a completion answer depends on, read from the request body. */
export interface CompletionPlan {
  readonly kind: CompletionKind;
  readonly model: string;
  readonly stream: boolean;
  readonly includeUsage: boolean;
  /** Number of choices; each one generates maxTokens tokens. */
  readonly n: number;
  readonly maxTokens: number;
  readonly promptTokens: number;
  /** vLLM's `priority` field (lower is handled earlier under --scheduling-policy priority); 0 when absent. */
  readonly priority: number;
  /** The parsed body, for the prompt text the prefix cache reads. */
  readonly request: Record<string, unknown>;
}

// Bounds keep one request from making the mock build gigantic bodies or run for hours.
const MAX_CHOICES = 128;
const MAX_TOKENS_LIMIT = 1_000_000;

/** Returns the plan, or the message for a 400. */
export function parseCompletionRequest(body: Buffer, kind: CompletionKind, defaultMaxTokens: number): CompletionPlan | string {
  const json = parseJsonObject(body);
  if (json === undefined) return 'Invalid JSON body: expected a JSON object';
  if (typeof json.model !== 'string' || json.model === '') return "The 'model' field is required";
  const n = readCount(json.n, 1, MAX_CHOICES);
  if (n === undefined) return `'n' must be an integer from 1 to ${MAX_CHOICES}`;
  const maxTokens = readCount(json.max_completion_tokens ?? json.max_tokens, defaultMaxTokens, MAX_TOKENS_LIMIT);
  if (maxTokens === undefined) return `'max_tokens' must be an integer from 1 to ${MAX_TOKENS_LIMIT}`;
  const priority = json.priority ?? 0;
  if (!Number.isSafeInteger(priority)) return "'priority' must be an integer";
  const streamOptions = json.stream_options;
  return {
    kind,
    model: json.model,
    stream: json.stream === true,
    includeUsage: isRecord(streamOptions) && streamOptions.include_usage === true,
    n,
    maxTokens,
    promptTokens: Math.max(1, kind === 'chat' ? countMessageTokens(json.messages) : countPromptTokens(json.prompt)),
    priority: priority as number,
    request: json,
  };
}

export function parseJsonObject(body: Buffer): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    return isRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Deterministic stand-in for a tokenizer: a word is one token, a number in a token-id array is one token,
 * and arrays (batched prompts) add up.
 */
export function countPromptTokens(prompt: unknown): number {
  if (typeof prompt === 'string') return countWords(prompt);
  if (typeof prompt === 'number') return 1;
  if (!Array.isArray(prompt)) return 0;
  let total = 0;
  for (const item of prompt) total += countPromptTokens(item);
  return total;
}

function countMessageTokens(messages: unknown): number {
  if (!Array.isArray(messages)) return 0;
  let total = 0;
  for (const message of messages) {
    const content = isRecord(message) ? message.content : undefined;
    if (typeof content === 'string') total += countWords(content);
    if (!Array.isArray(content)) continue;
    // Multimodal content: only the text parts count, images and audio are not simulated.
    for (const part of content) {
      if (isRecord(part) && part.type === 'text' && typeof part.text === 'string') total += countWords(part.text);
    }
  }
  return total;
}

function countWords(text: string): number {
  return text.match(/\S+/g)?.length ?? 0;
}

/** null and absent mean "use the fallback", as in the OpenAI API. */
function readCount(value: unknown, fallback: number, max: number): number | undefined {
  if (value === undefined || value === null) return fallback;
  return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= max ? (value as number) : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
