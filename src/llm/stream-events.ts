import { findValue, hasNonEmptyString, hasValueOpening } from './json-bytes.js';
import { type Usage, usageFrom } from './usage.js';

const DONE = Buffer.from('[DONE]');
const KEY_CONTENT = Buffer.from('"content"');
const KEY_TEXT = Buffer.from('"text"');
const KEY_REASONING_CONTENT = Buffer.from('"reasoning_content"');
const KEY_REASONING = Buffer.from('"reasoning"');
const KEY_REFUSAL = Buffer.from('"refusal"');
const KEY_TOOL_CALLS = Buffer.from('"tool_calls"');
const KEY_USAGE = Buffer.from('"usage"');
const KEY_ERROR = Buffer.from('"error"');
const KEY_OBJECT = Buffer.from('"object"');
const BRACE = 0x7b;
const BRACKET = 0x5b;

type EventKind = 'done' | 'content' | 'other';

export interface EventFacts {
  kind: EventKind;
  /** Present when the event carries a non-null usage object. */
  usage: Usage | null;
  /** A chunk with `"choices": []` and usage: the one stream_options.include_usage adds. */
  usageOnly: boolean;
  /** An error object sent in-band (under HTTP 200). */
  error: boolean;
}

/** vLLM's older in-band error shape: a top-level `"object": "error"`. */
function isErrorObject(data: Buffer, end: number): boolean {
  const value = findValue(data, KEY_OBJECT, 0, end);
  return value !== -1 && data.compare(KEY_ERROR, 0, KEY_ERROR.length, value, Math.min(end, value + KEY_ERROR.length)) === 0;
}

/**
 * Classifies one SSE data payload of an OpenAI-style stream without parsing it, except for the rare
 * events that carry usage or an error (JSON.parse for exact numbers). An event is content-bearing when
 * it holds generated output: a non-empty `content`, `text`, `reasoning_content`, `reasoning` or `refusal` string, or
 * a non-empty `tool_calls` array. The role-only first chat chunk (`"content":""`), finish chunks and
 * usage chunks are not.
 */
export function classifyEvent(data: Buffer): EventFacts {
  const end = data.length;
  if (end === DONE.length && data.equals(DONE)) return { kind: 'done', usage: null, usageOnly: false, error: false };
  const content =
    hasNonEmptyString(data, KEY_CONTENT, 0, end) ||
    hasNonEmptyString(data, KEY_TEXT, 0, end) ||
    hasNonEmptyString(data, KEY_REASONING_CONTENT, 0, end) ||
    hasNonEmptyString(data, KEY_REASONING, 0, end) ||
    hasNonEmptyString(data, KEY_REFUSAL, 0, end) ||
    hasValueOpening(data, KEY_TOOL_CALLS, BRACKET, 0, end, true);
  const facts: EventFacts = { kind: content ? 'content' : 'other', usage: null, usageOnly: false, error: false };
  const mayHaveUsage = hasValueOpening(data, KEY_USAGE, BRACE, 0, end);
  // Both error shapes contain the bytes `"error"`: one scan rules them out for almost every token chunk.
  const mayBeError = data.indexOf(KEY_ERROR) !== -1 && (hasValueOpening(data, KEY_ERROR, BRACE, 0, end) || isErrorObject(data, end));
  if (!mayHaveUsage && !mayBeError) return facts;
  let parsed: unknown;
  try {
    parsed = JSON.parse(data.toString('utf8'));
  } catch {
    return facts;
  }
  if (typeof parsed !== 'object' || parsed === null) return facts;
  const record = parsed as Record<string, unknown>;
  facts.usage = usageFrom(record);
  facts.usageOnly = facts.usage !== null && Array.isArray(record.choices) && record.choices.length === 0;
  facts.error = (typeof record.error === 'object' && record.error !== null) || record.object === 'error';
  if (facts.error) facts.kind = 'other';
  return facts;
}
