import type { ServerResponse } from 'node:http';
import type { CompletionPlan } from './completion-request.js';
import { tokenText } from './sse-format.js';

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** OpenAI error envelope; `code` carries the HTTP status, as the in-band stream error does. */
export function sendError(res: ServerResponse, status: number, message: string): void {
  const type = status >= 500 ? 'server_error' : 'invalid_request_error';
  sendJson(res, status, { error: { message, type, code: status } });
}

/** Body of a non-streamed chat.completion or text_completion, vLLM field order. */
export function completionBody(plan: CompletionPlan, id: string, createdSec: number): unknown {
  let text = '';
  for (let step = 0; step < plan.maxTokens; step++) text += tokenText(step);
  const completionTokens = plan.n * plan.maxTokens;
  const choices = Array.from({ length: plan.n }, (_, index) =>
    plan.kind === 'chat'
      ? { index, message: { role: 'assistant', content: text }, logprobs: null, finish_reason: 'length' }
      : { index, text, logprobs: null, finish_reason: 'length' },
  );
  return {
    id,
    object: plan.kind === 'chat' ? 'chat.completion' : 'text_completion',
    created: createdSec,
    model: plan.model,
    choices,
    usage: { prompt_tokens: plan.promptTokens, completion_tokens: completionTokens, total_tokens: plan.promptTokens + completionTokens },
  };
}
