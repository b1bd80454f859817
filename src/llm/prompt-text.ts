/**
 * The start of a completion request's prompt as the model will see it, as bytes: the routing key of
 * affinity routing (issue 12 point 2) and the text the mock backend's prefix cache splits into blocks
 * (point 5). Both sides call this one function, so the proxy and the simulated fleet agree on what
 * "the same prefix" is.
 *
 * Format (UTF-8):
 * - chat: a ChatML-like rendering, because chat templates put tool definitions in the first (system)
 *   turn and then every message in order:
 *     `<|im_start|>tools\n` + each tool as canonical JSON and `\n` + `<|im_end|>\n`   (only with tools)
 *     `<|im_start|>` + role + `\n` + content + tool_calls + `<|im_end|>\n`               (each message)
 *   content: a string as is; an array of parts joined by `\n`, a `{"type":"text","text":...}` part by its
 *   text and any other part (images, audio) by its canonical JSON; null or absent as nothing.
 *   tool_calls (assistant turns), when present, follow the content as canonical JSON. Other fields (name,
 *   tool_call_id) are left out. A message that is not an object is a turn with an empty role and the
 *   message's canonical JSON as content; a role that is not a string is empty.
 * - text: a string prompt as is; a token-id array as 4 bytes per id, unsigned little-endian (a token of
 *   English text averages about 4 bytes, so blocks hold a similar share of the prompt either way); an
 *   element that is not an id (an integer from 0 to 2^32 - 1) as its canonical JSON. A batch (an array of
 *   strings or of token arrays) by its first prompt: a batch's prompts usually share their start.
 * - anything else where a prompt, a message list or a tool list should be: a missing or empty one gives
 *   nothing (so an empty result means "no key"); another shape gives its canonical JSON.
 * Canonical JSON is JSON.stringify's with the keys of every object sorted, so the result does not depend
 * on the key order the client sent.
 *
 * The result with a limit is exactly the first `limitBytes` bytes of the result without one (a cut may
 * fall inside a UTF-8 character), and the work done is bounded by the limit, not by the prompt's size.
 */
import type { CompletionKind } from './completion-kind.js';

const TURN_START = '<|im_start|>';
const TURN_END = '<|im_end|>\n';
const TOOLS_TURN = `${TURN_START}tools\n`;
const TOKEN_BYTES = 4;
const MAX_TOKEN_ID = 0xffff_ffff;
// A UTF-16 code unit never takes more than 3 bytes in UTF-8 (a surrogate pair takes 4 for 2 units).
const MAX_UTF8_BYTES_PER_UNIT = 3;

/** The first `limitBytes` bytes of the prompt text; `Infinity` for all of it. */
export function promptText(kind: CompletionKind, json: Record<string, unknown>, limitBytes: number): Buffer {
  const out = new PromptWriter(limitBytes);
  if (kind === 'chat') writeChat(out, json);
  else writePrompt(out, json.prompt);
  return out.result();
}

function writeChat(out: PromptWriter, json: Record<string, unknown>): void {
  const { tools, messages } = json;
  if (Array.isArray(tools)) {
    if (tools.length > 0 && !writeTools(out, tools)) return;
  } else if (isPresent(tools)) {
    out.json(tools);
  }
  if (!Array.isArray(messages)) {
    if (isPresent(messages)) out.json(messages);
    return;
  }
  for (const message of messages) {
    if (!writeMessage(out, message)) return;
  }
}

/** The tools turn; false once the limit is reached. */
function writeTools(out: PromptWriter, tools: readonly unknown[]): boolean {
  out.text(TOOLS_TURN);
  for (const tool of tools) {
    if (!out.json(tool) || !out.text('\n')) return false;
  }
  return out.text(TURN_END);
}

/** One turn; false once the limit is reached. */
function writeMessage(out: PromptWriter, message: unknown): boolean {
  const fields = isRecord(message) ? message : undefined;
  const role = typeof fields?.role === 'string' ? fields.role : '';
  if (!out.text(`${TURN_START}${role}\n`)) return false;
  if (fields === undefined) out.json(message);
  else writeContent(out, fields.content);
  if (Array.isArray(fields?.tool_calls)) out.json(fields.tool_calls);
  return out.text(TURN_END);
}

function writeContent(out: PromptWriter, content: unknown): void {
  if (typeof content === 'string') {
    out.text(content);
  } else if (Array.isArray(content)) {
    for (let i = 0; i < content.length; i++) {
      const part: unknown = content[i];
      if (i > 0 && !out.text('\n')) return;
      const written = isRecord(part) && part.type === 'text' && typeof part.text === 'string' ? out.text(part.text) : out.json(part);
      if (!written) return;
    }
  } else if (isPresent(content)) {
    out.json(content);
  }
}

function writePrompt(out: PromptWriter, prompt: unknown): void {
  if (typeof prompt === 'string') {
    out.text(prompt);
    return;
  }
  if (!Array.isArray(prompt)) {
    if (isPresent(prompt)) out.json(prompt);
    return;
  }
  const first: unknown = prompt[0];
  if (first === undefined) return;
  if (typeof first === 'number') out.tokens(prompt);
  else if (typeof first === 'string') out.text(first);
  else if (Array.isArray(first)) out.tokens(first);
  else out.json(prompt);
}

function isPresent(value: unknown): boolean {
  return value !== undefined && value !== null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `units` code units of `text`, one more when the cut would split a surrogate pair (its UTF-8 would differ). */
function cutUnits(text: string, units: number): string {
  if (units >= text.length) return text;
  const last = text.charCodeAt(units - 1);
  const next = text.charCodeAt(units);
  const splitsPair = last >= 0xd800 && last <= 0xdbff && next >= 0xdc00 && next <= 0xdfff;
  return text.slice(0, splitsPair ? units + 1 : units);
}

/** Collects bytes up to the limit; each write says whether there is room left. */
class PromptWriter {
  readonly #parts: Buffer[] = [];
  #room: number;

  constructor(limitBytes: number) {
    // NaN counts as no room.
    this.#room = Math.max(limitBytes || 0, 0);
  }

  text(value: string): boolean {
    if (this.#room <= 0) return false;
    // Encoding only as many code units as there are bytes of room is enough: each unit makes at least one byte.
    const whole = value.length * MAX_UTF8_BYTES_PER_UNIT <= this.#room;
    return this.#push(Buffer.from(whole ? value : cutUnits(value, this.#room)));
  }

  json(value: unknown): boolean {
    if (this.#room <= 0) return false;
    const pieces = new CanonicalJson(this.#room);
    pieces.write(value);
    return this.text(pieces.result());
  }

  tokens(ids: readonly unknown[]): boolean {
    let index = 0;
    while (index < ids.length && this.#room > 0) {
      const run = Buffer.allocUnsafe(Math.min(ids.length - index, Math.ceil(this.#room / TOKEN_BYTES)) * TOKEN_BYTES);
      let length = 0;
      for (; length < run.length && index < ids.length; index++) {
        const id = ids[index];
        if (!Number.isInteger(id) || (id as number) < 0 || (id as number) > MAX_TOKEN_ID) break;
        length = run.writeUInt32LE(id as number, length);
      }
      this.#push(run.subarray(0, length));
      if (index < ids.length && length < run.length) this.json(ids[index++]);
    }
    return this.#room > 0;
  }

  result(): Buffer {
    return this.#parts.length === 1 ? (this.#parts[0] as Buffer) : Buffer.concat(this.#parts);
  }

  #push(bytes: Buffer): boolean {
    const kept = bytes.length > this.#room ? bytes.subarray(0, this.#room) : bytes;
    if (kept.length > 0) this.#parts.push(kept);
    this.#room -= kept.length;
    return this.#room > 0;
  }
}

/**
 * Canonical JSON, stopped once `budget` code units are out (no fewer bytes than that in UTF-8): the text
 * is then a prefix of the whole serialisation, long enough for the bytes that are left.
 */
class CanonicalJson {
  readonly #pieces: string[] = [];
  readonly #budget: number;
  #units = 0;

  constructor(budget: number) {
    this.#budget = budget;
  }

  write(value: unknown): void {
    if (this.#units >= this.#budget) return;
    if (typeof value === 'string') this.#string(value);
    else if (Array.isArray(value)) this.#array(value);
    else if (isRecord(value)) this.#object(value);
    // Numbers, booleans and null; anything JSON cannot hold becomes null, as in an array.
    else this.#push(JSON.stringify(value) ?? 'null');
  }

  result(): string {
    return this.#pieces.join('');
  }

  #array(items: readonly unknown[]): void {
    this.#push('[');
    for (let i = 0; i < items.length && this.#units < this.#budget; i++) {
      if (i > 0) this.#push(',');
      this.write(items[i]);
    }
    this.#push(']');
  }

  #object(fields: Record<string, unknown>): void {
    this.#push('{');
    const keys = Object.keys(fields).sort();
    for (let i = 0; i < keys.length && this.#units < this.#budget; i++) {
      const key = keys[i] as string;
      if (i > 0) this.#push(',');
      this.#string(key);
      this.#push(':');
      this.write(fields[key]);
    }
    this.#push('}');
  }

  #string(value: string): void {
    if (this.#units >= this.#budget) return;
    const left = this.#budget - this.#units;
    if (value.length < left) {
      this.#push(JSON.stringify(value));
      return;
    }
    // Without its closing quote the escaped start of a long string is a prefix of the whole; what follows it
    // is beyond the budget anyway.
    this.#push(JSON.stringify(cutUnits(value, left)).slice(0, -1));
  }

  #push(piece: string): void {
    if (this.#units >= this.#budget) return;
    this.#pieces.push(piece);
    this.#units += piece.length;
  }
}
