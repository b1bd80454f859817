import { randomUUID } from 'node:crypto';
import { countPromptTokens, parseJsonObject } from './completion-request.js';
import { servesModel } from './mock-controls.js';
import { sendError, sendJson, sendModelNotFound } from './mock-responses.js';
import type { MockExchange } from './mock-types.js';

// Small on purpose: the proxy only passes embeddings through, their values do not matter.
const EMBEDDING_DIMENSIONS = 8;
const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** POST /v1/embeddings: one deterministic vector per input, answered at once. */
export function handleEmbeddings(exchange: MockExchange): void {
  const request = readEmbeddingsRequest(exchange.body);
  if (typeof request === 'string') {
    sendError(exchange.res, 400, request);
    return;
  }
  const { model, inputs } = request;
  if (!servesModel(exchange.controls, model)) {
    sendModelNotFound(exchange.res, model);
    return;
  }
  let promptTokens = 0;
  const data = inputs.map((input, index) => {
    promptTokens += Math.max(1, countPromptTokens(input));
    return { object: 'embedding', index, embedding: embed(JSON.stringify(input)) };
  });
  exchange.stats.promptTokens += promptTokens;
  sendJson(exchange.res, 200, {
    id: `embd-${randomUUID().replaceAll('-', '')}`,
    object: 'list',
    created: Math.floor(Date.now() / 1000),
    model,
    data,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  });
}

/** Returns the model and inputs, or the message for a 400. */
function readEmbeddingsRequest(body: Buffer): { model: string; inputs: unknown[] } | string {
  const json = parseJsonObject(body);
  if (json === undefined) return 'Invalid JSON body: expected a JSON object';
  if (typeof json.model !== 'string' || json.model === '') return "The 'model' field is required";
  const inputs = splitInputs(json.input);
  if (inputs === undefined) return "'input' must be a string, an array of strings or token arrays";
  return { model: json.model, inputs };
}

/** A string or a single token array is one input; any other array is a batch. */
function splitInputs(input: unknown): unknown[] | undefined {
  if (typeof input === 'string') return [input];
  if (!Array.isArray(input) || input.length === 0) return undefined;
  if (input.every((item) => typeof item === 'number')) return [input];
  return input.every((item) => typeof item === 'string' || Array.isArray(item)) ? input : undefined;
}

/** Same text, same unit vector. */
function embed(text: string): number[] {
  let hash = FNV_OFFSET_BASIS;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), FNV_PRIME) >>> 0;
  const raw = Array.from({ length: EMBEDDING_DIMENSIONS }, (_, d) => Math.sin(hash + d));
  const norm = Math.hypot(...raw);
  return raw.map((value) => Math.round((value / norm) * 1e6) / 1e6);
}
