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
  // vLLM ids: a prefix and 32 hex digits.
  const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID().replaceAll('-', '')}`;
  const createdSec = Math.floor(Date.now() / 1000);
  const answer = (): void => {
    if (plan.stream) startMockStream({ exchange, plan, switches, id, createdSec });
    else answerWhenGenerated(exchange, plan, switches, id, createdSec);
  };
  const { prefill } = exchange.settings;
  if (prefill === null) {
    answer();
    return;
  }
  // A stream's headers go out before the prefill, as vLLM's do: queueing shows as a late first token.
  if (plan.stream) sendStreamHead(res);
  exchange.onStop(prefill.run(promptText(kind, plan.request, Number.POSITIVE_INFINITY), plan.model, answer));
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
