const LF = 0x0a;
/** A response head (status line and headers) larger than this is not a health answer. */
const MAX_HEAD_BYTES = 64 * 1024;
/** A chunk-size line or a trailer line longer than this is malformed. */
const MAX_LINE_BYTES = 8 * 1024;
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: |$)/;
const CHUNK_SIZE = /^([0-9a-fA-F]{1,8})[ \t]*(?:;.*)?$/;

/** A response the probe could not read as HTTP/1.1; the check counts it as unreachable, as a protocol error in undici was. */
export class MalformedResponse extends Error {}

type BodyState = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailers' | 'close' | 'done';

/**
 * Reads one HTTP/1.1 response to a GET from the bytes of its connection, as they come: the status, the body
 * (kept up to `maxBodyBytes` when `keepBody`, else only counted), and whether the connection may carry the
 * next request. Bodies framed by Content-Length, chunked, or by the end of the connection; 1xx heads are
 * skipped. Only what a health check and a model list need: no header is handed out.
 */
export class ProbeResponse {
  status = 0;
  /** The connection may carry another request once this one is read (HTTP/1.1, no `Connection: close`, a framed body). */
  reusable = false;
  /** More body bytes came than `maxBodyBytes`: reading stops there, the body is not kept, the connection not reused. */
  tooLarge = false;
  /** Bytes that came after the end of the response (a server that sent more than asked). */
  extra = 0;
  readonly #keepBody: boolean;
  readonly #maxBodyBytes: number;
  #state: BodyState = 'head';
  #head = '';
  #line = '';
  #remaining = 0;
  #bodyBytes = 0;
  readonly #body: Buffer[] = [];

  constructor(keepBody: boolean, maxBodyBytes: number) {
    this.#keepBody = keepBody;
    this.#maxBodyBytes = maxBodyBytes;
  }

  get done(): boolean {
    return this.#state === 'done';
  }

  /** The body read (when kept and not too large), else null. */
  body(): Buffer | null {
    return this.#keepBody && !this.tooLarge ? Buffer.concat(this.#body) : null;
  }

  /** Takes the next bytes of the connection; true once the response is complete. Throws MalformedResponse. */
  push(chunk: Buffer): boolean {
    let at = 0;
    while (at < chunk.length && this.#state !== 'done') at = this.#step(chunk, at);
    if (this.#state === 'done') this.extra += chunk.length - at;
    return this.#state === 'done';
  }

  /** The connection ended: completes a body that runs to the end; true when the response is complete. */
  end(): boolean {
    if (this.#state === 'close') this.#state = 'done';
    return this.#state === 'done';
  }

  #step(chunk: Buffer, at: number): number {
    switch (this.#state) {
      case 'head':
        return this.#readHead(chunk, at);
      case 'length':
      case 'chunk-data': {
        const take = Math.min(this.#remaining, chunk.length - at);
        this.#remaining -= take;
        if (this.#remaining === 0) this.#state = this.#state === 'length' ? 'done' : 'chunk-end';
        this.#keep(chunk.subarray(at, at + take));
        return at + take;
      }
      case 'close':
        this.#keep(chunk.subarray(at));
        return chunk.length;
      default:
        return this.#readLine(chunk, at);
    }
  }

  #readHead(chunk: Buffer, at: number): number {
    const start = this.#head.length;
    this.#head += chunk.toString('latin1', at);
    const end = this.#head.indexOf('\r\n\r\n');
    if (end === -1) {
      if (this.#head.length > MAX_HEAD_BYTES) throw new MalformedResponse('response head too large');
      return chunk.length;
    }
    const head = this.#head.slice(0, end);
    this.#head = '';
    this.#startBody(head);
    return at + end + 4 - start;
  }

  #startBody(head: string): void {
    const lines = head.split('\r\n');
    const match = STATUS_LINE.exec(lines[0] as string);
    if (match === null) throw new MalformedResponse('not an HTTP/1.x status line');
    const status = Number(match[2]);
    // 1xx (but 101): an interim head; the final one follows.
    if (status < 200 && status !== 101) return;
    this.status = status;
    let length: string | null = null;
    let chunked = false;
    let encoded = false;
    let close = match[1] === '0';
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i] as string;
      const colon = line.indexOf(':');
      if (colon <= 0) throw new MalformedResponse('malformed header line');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line
        .slice(colon + 1)
        .trim()
        .toLowerCase();
      if (name === 'content-length') {
        if (!/^\d{1,15}$/.test(value) || (length !== null && length !== value)) throw new MalformedResponse('bad Content-Length');
        length = value;
      } else if (name === 'transfer-encoding') {
        encoded = true;
        chunked = value.split(',').at(-1)?.trim() === 'chunked';
      } else if (name === 'connection') {
        const tokens = value.split(',').map((token) => token.trim());
        if (tokens.includes('close')) close = true;
        else if (match[1] === '0' && tokens.includes('keep-alive')) close = false;
      }
    }
    if (status === 204 || status === 304 || status === 101) {
      this.#finish(!close && status !== 101);
    } else if (encoded) {
      // RFC 9112 6.3: a transfer coding wins over Content-Length; one that does not end in chunked runs to the close.
      this.#state = chunked ? 'chunk-size' : 'close';
      this.reusable = chunked && !close;
    } else if (length !== null) {
      this.#remaining = Number(length);
      this.reusable = !close;
      if (this.#remaining === 0) this.#state = 'done';
      else this.#state = 'length';
    } else {
      this.#state = 'close';
    }
  }

  #finish(reusable: boolean): void {
    this.reusable = reusable;
    this.#state = 'done';
  }

  /** A chunk-size line, the CRLF after a chunk's data, or a trailer line. */
  #readLine(chunk: Buffer, at: number): number {
    const nl = chunk.indexOf(LF, at);
    this.#line += chunk.toString('latin1', at, nl === -1 ? chunk.length : nl);
    if (this.#line.length > MAX_LINE_BYTES) throw new MalformedResponse('chunked framing line too long');
    if (nl === -1) return chunk.length;
    const line = this.#line.endsWith('\r') ? this.#line.slice(0, -1) : this.#line;
    this.#line = '';
    if (this.#state === 'chunk-end') {
      if (line !== '') throw new MalformedResponse('chunk data not followed by CRLF');
      this.#state = 'chunk-size';
    } else if (this.#state === 'trailers') {
      if (line === '') this.#state = 'done';
    } else {
      const size = CHUNK_SIZE.exec(line);
      if (size === null) throw new MalformedResponse('bad chunk size');
      this.#remaining = Number.parseInt(size[1] as string, 16);
      this.#state = this.#remaining === 0 ? 'trailers' : 'chunk-data';
    }
    return nl + 1;
  }

  #keep(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.#bodyBytes += bytes.length;
    if (this.#bodyBytes > this.#maxBodyBytes) {
      // The status is known: the response ends here for the reader, and its connection with it.
      this.tooLarge = true;
      this.#body.length = 0;
      this.#finish(false);
      return;
    }
    if (this.#keepBody) this.#body.push(Buffer.from(bytes));
  }
}
