/**
 * Exact, allocation-free questions about JSON text held in a Buffer, answered with native indexOf.
 * They rely on one property of JSON: a `"` inside a string value is always escaped, so an unescaped
 * `"key"` followed by `:` can only be an object key, never text inside a value.
 */

const SPACE = 0x20;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;
const QUOTE = 0x22;

function skipSpace(buf: Buffer, at: number, end: number): number {
  let i = at;
  while (i < end) {
    const c = buf[i];
    if (c !== SPACE && c !== TAB && c !== LF && c !== CR) break;
    i++;
  }
  return i;
}

/**
 * Finds `"key"` followed by optional whitespace, a colon and optional whitespace in buf[start, end);
 * returns the index of the value's first byte, or -1. `quotedKey` is the key with its quotes, e.g. Buffer.from('"usage"').
 */
export function findValue(buf: Buffer, quotedKey: Buffer, start: number, end: number): number {
  let from = start;
  while (from < end) {
    const at = buf.indexOf(quotedKey, from);
    if (at === -1 || at + quotedKey.length > end) return -1;
    let i = skipSpace(buf, at + quotedKey.length, end);
    if (buf[i] === COLON) {
      i = skipSpace(buf, i + 1, end);
      if (i < end) return i;
      return -1;
    }
    from = at + 1;
  }
  return -1;
}

/** True if some `"key": "<at least one char>"` occurs in buf[start, end). */
export function hasNonEmptyString(buf: Buffer, quotedKey: Buffer, start: number, end: number): boolean {
  let from = start;
  while (from < end) {
    const value = findValue(buf, quotedKey, from, end);
    if (value === -1) return false;
    if (buf[value] === QUOTE && value + 1 < end && buf[value + 1] !== QUOTE) return true;
    from = value;
  }
  return false;
}

/** True if some `"key": <byte>` occurs, where <byte> is the given opening byte ('{' or '['), and, for '[', the array is not empty. */
export function hasValueOpening(buf: Buffer, quotedKey: Buffer, opening: number, start: number, end: number, nonEmpty = false): boolean {
  let from = start;
  while (from < end) {
    const value = findValue(buf, quotedKey, from, end);
    if (value === -1) return false;
    if (buf[value] === opening) {
      if (!nonEmpty) return true;
      const next = skipSpace(buf, value + 1, end);
      if (next < end && buf[next] !== opening + 2 /* ] or } */) return true;
    }
    from = value;
  }
  return false;
}
