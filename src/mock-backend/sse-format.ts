import type { CompletionKind } from '../llm/completion-kind.js';

export interface SseFormatOptions {
  readonly kind: CompletionKind;
  readonly id: string;
  readonly createdSec: number;
  readonly model: string;
  readonly includeUsage: boolean;
  readonly crlf: boolean;
}

/** Ready-to-write SSE events of one stream, each ending with its blank line. */
export interface SseFormat {
  /** Chat only: the first chunk of a choice, carrying the role. */
  role(index: number): string;
  token(index: number, step: number): string;
  finish(index: number): string;
  usage(promptTokens: number, completionTokens: number): string;
  readonly done: string;
  readonly error: string;
  readonly comment: string;
}

/** Text of generated token number `step` (from 0); every token is one word, so it counts back as one. */
export function tokenText(step: number): string {
  return ` tok${step}`;
}

/**
 * Builds the constant parts of every chunk once per stream, so a token costs one string concatenation
 * instead of a JSON.stringify: benchmarks push thousands of concurrent streams through the mock.
 * Field order follows vLLM: id, object, created, model, choices, usage.
 */
export function createSseFormat(options: SseFormatOptions): SseFormat {
  const end = options.crlf ? '\r\n\r\n' : '\n\n';
  const object = options.kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
  const envelope = `data: {"id":${JSON.stringify(options.id)},"object":"${object}","created":${options.createdSec},"model":${JSON.stringify(options.model)},"choices":`;
  const head = `${envelope}[{"index":`;
  const tail = `}]${options.includeUsage ? ',"usage":null' : ''}}${end}`;
  const open = '"logprobs":null,"finish_reason":null';
  const closed = '"logprobs":null,"finish_reason":"length"';
  const chat = options.kind === 'chat';
  return {
    role: (index) => `${head}${index},"delta":{"role":"assistant","content":""},${open}${tail}`,
    token: chat
      ? (index, step) => `${head}${index},"delta":{"content":"${tokenText(step)}"},${open}${tail}`
      : (index, step) => `${head}${index},"text":"${tokenText(step)}",${open}${tail}`,
    finish: chat ? (index) => `${head}${index},"delta":{},${closed}${tail}` : (index) => `${head}${index},"text":"",${closed}${tail}`,
    usage: (promptTokens, completionTokens) =>
      `${envelope}[],"usage":{"prompt_tokens":${promptTokens},"completion_tokens":${completionTokens},"total_tokens":${promptTokens + completionTokens}}}${end}`,
    done: `data: [DONE]${end}`,
    error: `data: {"error":{"message":"simulated failure","type":"server_error","code":500}}${end}`,
    comment: `: keep-alive${end}`,
  };
}
