const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;
const SPACE = 0x20;
const DATA = Buffer.from('data');

/** Receives each complete SSE event that has data; returning true marks the event's bytes for removal. */
export type SseEventHandler = (data: Buffer) => boolean;

/**
 * An incremental, byte-exact Server-Sent Events scanner (the WHATWG event-stream grammar, for `\n` and
 * `\r\n` line endings): events may be split across chunks at any byte, comments are skipped, several
 * `data:` lines join with LF. It only reads the bytes; the caller forwards them (before scanning, or,
 * for usage injection, up to `completeUpTo` minus the ranges in `dropped`).
 */
export class SseScanner {
  readonly #onEvent: SseEventHandler;
  /** Stream offset of the first byte not yet consumed as part of a complete line. */
  #offset = 0;
  #partial: Buffer | null = null;
  #dataParts: Buffer[] = [];
  #eventStart = 0;
  /** Stream offset just past the last complete event (its blank line). */
  completeUpTo = 0;
  /** Byte ranges [start, end) of events the handler asked to drop, in stream order, not yet taken by the caller. */
  readonly dropped: Array<[number, number]> = [];

  constructor(onEvent: SseEventHandler) {
    this.#onEvent = onEvent;
  }

  push(chunk: Buffer): void {
    let buf = chunk;
    const bufOffset = this.#offset;
    if (this.#partial !== null) {
      // The partial line starts at #offset: the joined buffer does too.
      buf = Buffer.concat([this.#partial, chunk]);
      this.#partial = null;
    }
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(LF, start);
      if (nl === -1) break;
      const end = nl > start && buf[nl - 1] === CR ? nl - 1 : nl;
      this.#line(buf, start, end, bufOffset + nl + 1);
      start = nl + 1;
    }
    this.#offset = bufOffset + start;
    if (start < buf.length) this.#partial = Buffer.from(buf.subarray(start));
    // Data lines of an event still open point into this chunk; keep private copies.
    if (this.#dataParts.length > 0) this.#dataParts = this.#dataParts.map((part) => Buffer.from(part));
  }

  #line(buf: Buffer, start: number, end: number, nextOffset: number): void {
    if (start === end) {
      this.#dispatch(nextOffset);
      return;
    }
    if (buf[start] === COLON) return;
    if (end - start >= 5 && buf[start + 4] === COLON && buf.compare(DATA, 0, 4, start, start + 4) === 0) {
      let valueStart = start + 5;
      if (buf[valueStart] === SPACE) valueStart++;
      this.#dataParts.push(buf.subarray(valueStart, end));
    }
    // Other fields (event:, id:, retry:) carry nothing the proxy needs.
  }

  #dispatch(eventEnd: number): void {
    const parts = this.#dataParts;
    const eventStart = this.#eventStart;
    this.#eventStart = eventEnd;
    this.completeUpTo = eventEnd;
    if (parts.length === 0) return;
    this.#dataParts = [];
    const data = parts.length === 1 ? (parts[0] as Buffer) : joinLines(parts);
    if (this.#onEvent(data)) this.dropped.push([eventStart, eventEnd]);
  }
}

function joinLines(parts: Buffer[]): Buffer {
  const pieces: Buffer[] = [];
  parts.forEach((part, i) => {
    if (i > 0) pieces.push(Buffer.from('\n'));
    pieces.push(part);
  });
  return Buffer.concat(pieces);
}
