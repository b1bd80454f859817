import { randomUUID } from 'node:crypto';
import type { CompletionKind } from '../llm/completion-kind.js';
import { promptText } from '../llm/prompt-text.js';
import type { CompletionPlan } from './completion-request.js';
import { parseCompletionRequest } from './completion-request.js';
import { servesModel } from './mock-controls.js';
import { completionBody, sendError, sendJson, sendModelNotFound } from './mock-responses.js';
import { sendStreamHead, startMockStream } from './mock-stream.js';
import type { MockExchange, MockSwitches } from './mock-types.js';

/** POST /v1/chat/completions and /v1/completions. */
export function handleCompletion(exchange: MockExchange, kind: CompletionKind, switches: MockSwitches): void {
  const { res, controls } = exchange;
  const { completionStatus, retryAfterSec } = controls;
  if (completionStatus !== null) {
    const headers = retryAfterSec === null ? {} : { 'retry-after': String(retryAfterSec) };
    sendError(res, completionStatus, `Simulated status ${completionStatus}`, { headers });
    return;
  }
  const plan = parseCompletionRequest(exchange.body, kind, exchange.settings.defaultMaxTokens);
  if (typeof plan === 'string') {
    sendError(res, 400, plan);
    return;
  }
  if (!servesModel(controls, plan.model)) {
    sendModelNotFound(res, plan.model);
    return;
  }
  const { engine, prefill } = exchange.settings;
  // vLLM refuses a priority it cannot act on, and a sequence longer than its KV cache.
  if (plan.priority !== 0 && engine.policy !== 'priority') {
    sendError(res, 400, `Got priority ${plan.priority} but Priority scheduling is not enabled.`);
    return;
  }
  const tokens = plan.promptTokens + plan.n * plan.maxTokens;
  if (tokens > engine.maxTokens) {
    sendError(
      res,
      400,
      `This model's maximum context length is ${engine.maxTokens} tokens. However, you requested ${tokens} tokens (${plan.promptTokens} in the messages, ${plan.n * plan.maxTokens} in the completion). Please reduce the length of the messages or completion.`,
    );
    return;
  }
  // vLLM ids: a prefix and 32 hex digits.
  const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID().replaceAll('-', '')}`;
  const createdSec = Math.floor(Date.now() / 1000);
  const answer = (): void => {
    if (plan.stream) startMockStream({ exchange, plan, switches, id, createdSec });
    else answerWhenGenerated(exchange, plan, switches, id, createdSec);
  };
  // A stream's headers go out as soon as the request is accepted, as vLLM's do: waiting for a slot or a
  // prefill shows as a late first token.
  if (plan.stream) sendStreamHead(res);
  // The slot is held until the response closes (finished, failed or abandoned).
  exchange.onStop(
    engine.admit({ tokens, priority: plan.priority }, () => {
      if (prefill === null) answer();
      else exchange.onStop(prefill.run(promptText(kind, plan.request, Number.POSITIVE_INFINITY), plan.model, answer));
    }),
  );
}

/** A non-streamed answer arrives once all its tokens would have been generated. */
function answerWhenGenerated(exchange: MockExchange, plan: CompletionPlan, switches: MockSwitches, id: string, createdSec: number): void {
  const delayMs = switches.ttftMs + plan.maxTokens * switches.tokenDelayMs;
  const timer = setTimeout(() => {
    if (switches.crashAfter !== undefined) {
      exchange.crash();
      return;
    }
    exchange.stats.promptTokens += plan.promptTokens;
    exchange.stats.completionTokens += plan.n * plan.maxTokens;
    sendJson(exchange.res, 200, completionBody(plan, id, createdSec));
  }, delayMs);
  exchange.onStop(() => clearTimeout(timer));
}
