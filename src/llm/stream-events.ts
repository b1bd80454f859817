import { closingQuoteBefore, isKeyAt, isNonEmptyString, opensWith, valueAfter } from './json-text.js';
import { type Usage, usageFrom } from './usage.js';

const DONE = '[DONE]';
const KEY_CONTENT = '"content"';
const KEY_TEXT = '"text"';
const KEY_REASONING_CONTENT = '"reasoning_content"';
const KEY_REASONING = '"reasoning"';
const KEY_REFUSAL = '"refusal"';
const KEY_TOOL_CALLS = '"tool_calls"';
const KEY_USAGE = '"usage"';
const KEY_ERROR = '"error"';
const KEY_OBJECT = '"object"';
const BRACE = 0x7b;
const BRACKET = 0x5b;
/** The last letters of the keys read (the char before their closing quote). */
const LAST_T = 0x74;
const LAST_G = 0x67;
const LAST_L = 0x6c;
const LAST_S = 0x73;
const LAST_E = 0x65;
const LAST_R = 0x72;

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

/** The facts of every event that holds generated output and nothing else to read: shared, never changed. */
const CONTENT: EventFacts = Object.freeze({ kind: 'content', usage: null, usageOnly: false, error: false });
const OTHER: EventFacts = Object.freeze({ kind: 'other', usage: null, usageOnly: false, error: false });
const DONE_FACTS: EventFacts = Object.freeze({ kind: 'done', usage: null, usageOnly: false, error: false });

/**
 * Classifies one SSE data payload of an OpenAI-style stream without parsing it, except for the rare
 * events that carry usage or an error (JSON.parse for exact numbers). An event is content-bearing when
 * it holds generated output: a non-empty `content`, `text`, `reasoning_content`, `reasoning` or `refusal` string, or
 * a non-empty `tool_calls` array. The role-only first chat chunk (`"content":""`), finish chunks and
 * usage chunks are not. `data` holds one char per byte (latin1), as SseScanner hands it over.
 */
export function classifyEvent(data: string): EventFacts {
  if (data === DONE) return DONE_FACTS;
  let content = false;
  let mayHaveUsage = false;
  let errorValue = false;
  /** vLLM's older in-band error shape: a top-level `"object": "error"` (its first "object" key). */
  let objectSeen = false;
  let errorObject = false;
  // One walk over the colons; at each, the key before it (if it is one the proxy reads) and its value.
  for (let colon = data.indexOf(':'); colon !== -1; colon = data.indexOf(':', colon + 1)) {
    const close = closingQuoteBefore(data, colon);
    if (close < 1) continue;
    // The key's last letter picks the candidates: most keys of a chunk (id, model, index, ...) end here.
    switch (data.charCodeAt(close - 1)) {
      case LAST_T:
        if (isKeyAt(data, KEY_CONTENT, close) || isKeyAt(data, KEY_TEXT, close) || isKeyAt(data, KEY_REASONING_CONTENT, close)) {
          content ||= isNonEmptyStringAfter(data, colon);
        } else if (!objectSeen && isKeyAt(data, KEY_OBJECT, close)) {
          objectSeen = true;
          const value = valueAfter(data, colon);
          errorObject = value !== -1 && data.startsWith(KEY_ERROR, value);
        }
        break;
      case LAST_G:
        if (isKeyAt(data, KEY_REASONING, close)) content ||= isNonEmptyStringAfter(data, colon);
        break;
      case LAST_L:
        if (isKeyAt(data, KEY_REFUSAL, close)) content ||= isNonEmptyStringAfter(data, colon);
        break;
      case LAST_S:
        if (isKeyAt(data, KEY_TOOL_CALLS, close)) content ||= opensAfter(data, colon, BRACKET, true);
        break;
      case LAST_E:
        if (isKeyAt(data, KEY_USAGE, close)) mayHaveUsage ||= opensAfter(data, colon, BRACE, false);
        break;
      case LAST_R:
        if (isKeyAt(data, KEY_ERROR, close)) errorValue ||= opensAfter(data, colon, BRACE, false);
        break;
    }
  }
  if (!mayHaveUsage && !errorValue && !errorObject) return content ? CONTENT : OTHER;
  const facts: EventFacts = { kind: content ? 'content' : 'other', usage: null, usageOnly: false, error: false };
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(data, 'latin1').toString('utf8'));
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

function isNonEmptyStringAfter(data: string, colon: number): boolean {
  const value = valueAfter(data, colon);
  return value !== -1 && isNonEmptyString(data, value);
}

function opensAfter(data: string, colon: number, opening: number, nonEmpty: boolean): boolean {
  const value = valueAfter(data, colon);
  return value !== -1 && opensWith(data, value, opening, nonEmpty);
}
