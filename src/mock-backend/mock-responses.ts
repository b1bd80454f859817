import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { CompletionPlan } from './completion-request.js';
import { tokenText } from './sse-format.js';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export interface ErrorDetails {
  readonly type?: string;
  /** The request field at fault. */
  readonly param?: string;
  readonly headers?: OutgoingHttpHeaders;
}

/** vLLM's error body: the OpenAI envelope, `param` always present, `code` the HTTP status (as in the in-band stream error). */
export function sendError(res: ServerResponse, status: number, message: string, details: ErrorDetails = {}): void {
  const type = details.type ?? (status >= 500 ? 'server_error' : 'invalid_request_error');
  sendJson(res, status, { error: { message, type, param: details.param ?? null, code: status } }, details.headers);
}

/** vLLM's answer to a completion or embeddings request for a model it does not serve. */
export function sendModelNotFound(res: ServerResponse, model: string): void {
  sendError(res, 404, `The model \`${model}\` does not exist.`, { type: 'NotFoundError', param: 'model' });
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
