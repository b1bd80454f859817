/**
 * Exact, allocation-free questions about JSON text held in a latin1 string (one char per byte of the UTF-8
 * text, as SseScanner hands an event's data over), asked at a colon: which key ends before it, where its
 * value starts, what the value opens with. The caller walks the colons with String.indexOf(':'), a
 * single-char search V8 runs at memchr speed, where a search for a whole key (`"usage"`) stops at every
 * `"` of the text, and Buffer.indexOf with a Buffer needle is a call into C++ that cost more than the search.
 *
 * They rely on one property of JSON: a `"` inside a string value is always escaped, so an unescaped `"key"`
 * followed by whitespace and a colon can only be an object key, never text inside a value. Every key and
 * char asked about is ASCII, so a latin1 char is the byte itself.
 */

const SPACE = 0x20;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;

function isSpace(c: number): boolean {
  return c === SPACE || c === TAB || c === LF || c === CR;
}

/** The index of the `"` that ends the key before the colon at `colon` (whitespace between them skipped), or -1. */
export function closingQuoteBefore(text: string, colon: number): number {
  let i = colon - 1;
  while (i >= 0 && isSpace(text.charCodeAt(i))) i--;
  return i >= 0 && text.charCodeAt(i) === QUOTE ? i : -1;
}

/** True when the key that ends at `close` (its closing quote) is `quotedKey` (with its quotes, e.g. '"usage"'). */
export function isKeyAt(text: string, quotedKey: string, close: number): boolean {
  const start = close + 1 - quotedKey.length;
  return start >= 0 && text.startsWith(quotedKey, start);
}

/** The index of the first char of the value after the colon at `colon` (whitespace skipped), or -1 at the end of the text. */
export function valueAfter(text: string, colon: number): number {
  let i = colon + 1;
  while (i < text.length && isSpace(text.charCodeAt(i))) i++;
  return i < text.length ? i : -1;
}

/** True when the value at `value` is a string of at least one char. */
export function isNonEmptyString(text: string, value: number): boolean {
  return text.charCodeAt(value) === QUOTE && value + 1 < text.length && text.charCodeAt(value + 1) !== QUOTE;
}

/**
 * True when the value at `value` opens with `opening` ('{' or '['); with `nonEmpty`, only when something other
 * than whitespace and its closing bracket follows (the char after it must be in the text).
 */
export function opensWith(text: string, value: number, opening: number, nonEmpty = false): boolean {
  if (text.charCodeAt(value) !== opening) return false;
  if (!nonEmpty) return true;
  let next = value + 1;
  while (next < text.length && isSpace(text.charCodeAt(next))) next++;
  return next < text.length && text.charCodeAt(next) !== opening + 2 /* ] or } */;
}
