import { connect } from 'node:net';

const RAW_TIMEOUT_MS = 5_000;

/** Writes `text` on a fresh TCP connection and resolves with everything read until the server closes (bounded). */
export async function rawRequest(port: number, text: string): Promise<string> {
  const connection = await rawConnection(port);
  connection.write(text);
  try {
    return await connection.closed();
  } finally {
    connection.destroy();
  }
}

/** The JSON body of a raw HTTP/1.1 response with Content-Length. */
export function rawJsonBody(reply: string): unknown {
  return JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4));
}

/** A kept-open raw connection: write requests, wait (bounded) until the bytes read so far satisfy a test. */
export interface RawConnection {
  write(text: string): void;
  /** Resolves with everything read so far once `done(data)` holds; rejects after `RAW_TIMEOUT_MS`. */
  until(done: (data: string) => boolean): Promise<string>;
  /** Resolves with everything read once the server closes the connection (bounded). */
  closed(): Promise<string>;
  destroy(): void;
}

export function rawConnection(port: number): Promise<RawConnection> {
  return new Promise<RawConnection>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    let ended = false;
    const waiters = new Set<() => void>();
    const wake = (): void => {
      for (const waiter of [...waiters]) waiter();
    };
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      wake();
    });
    socket.on('end', () => {
      ended = true;
      wake();
    });
    let failure: Error | null = null;
    socket.on('error', (err) => {
      failure = err;
      wake();
    });
    const wait = (done: () => boolean, what: string): Promise<string> =>
      new Promise<string>((ok, fail) => {
        const check = (): void => {
          if (failure !== null) {
            waiters.delete(check);
            clearTimeout(timer);
            fail(failure);
            return;
          }
          if (!done()) return;
          waiters.delete(check);
          clearTimeout(timer);
          ok(data);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          fail(new Error(`${what} within ${RAW_TIMEOUT_MS} ms; got ${JSON.stringify(data.slice(-300))}`));
        }, RAW_TIMEOUT_MS);
        waiters.add(check);
        check();
      });
    socket.once('connect', () =>
      resolve({
        write: (text) => socket.write(text),
        until: (done) => wait(() => done(data), 'the expected bytes did not arrive'),
        closed: () => wait(() => ended, 'the server did not close the connection'),
        destroy: () => socket.destroy(),
      }),
    );
    socket.once('error', (err) => {
      if (!socket.connecting) return;
      reject(err);
    });
  });
}

/** One HTTP/1.1 response from the start of `text`: status line, headers (lower-cased names), the decoded body, and what follows it. */
export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The body as it was framed: one entry per chunk (the whole body when framed by Content-Length). */
  chunks: string[];
  rest: string;
}

/** Parses one response framed by Content-Length or chunked encoding; null while it is incomplete. */
export function parseRawResponse(text: string): RawResponse | null {
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd === -1) return null;
  const [statusLine, ...lines] = text.slice(0, headEnd).split('\r\n');
  const status = Number((statusLine as string).split(' ')[1]);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let at = headEnd + 4;
  if (headers['content-length'] !== undefined) {
    const end = at + Number(headers['content-length']);
    if (text.length < end) return null;
    const body = text.slice(at, end);
    return { status, headers, body, chunks: [body], rest: text.slice(end) };
  }
  if (headers['transfer-encoding'] !== 'chunked') throw new Error('neither Content-Length nor chunked: read to the close instead');
  const chunks: string[] = [];
  for (;;) {
    const lineEnd = text.indexOf('\r\n', at);
    if (lineEnd === -1) return null;
    const sizeText = text.slice(at, lineEnd);
    if (!/^[0-9a-f]+$/i.test(sizeText)) throw new Error(`bad chunk size line ${JSON.stringify(sizeText)}`);
    const size = Number.parseInt(sizeText, 16);
    const dataStart = lineEnd + 2;
    if (size === 0) {
      // No trailers from us: the last chunk is followed by one empty line.
      if (text.length < dataStart + 2) return null;
      if (text.slice(dataStart, dataStart + 2) !== '\r\n') throw new Error('the last chunk is not followed by CRLF');
      return { status, headers, body: chunks.join(''), chunks, rest: text.slice(dataStart + 2) };
    }
    if (text.length < dataStart + size + 2) return null;
    if (text.slice(dataStart + size, dataStart + size + 2) !== '\r\n') throw new Error(`chunk of ${size} bytes not followed by CRLF`);
    chunks.push(text.slice(dataStart, dataStart + size));
    at = dataStart + size + 2;
  }
}
