import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { chunkedSocketOf, frameChunks } from './chunked-socket.js';

/** What the relay stops and restarts when the client reads slower than the backend sends. */
export interface Flow {
  pause(): void;
  resume(): void;
}

/**
 * Writes a backend's response into the client's: the head, then the body chunk by chunk with
 * backpressure (the upstream is paused while the client's socket is full). A streamed response writes its
 * framed chunks straight to the socket once it may (see chunkedSocketOf): the chunks of one event-loop turn
 * (the events one read from the backend holds) leave as one chunk in one write, at the end of the turn; a
 * body of known length that arrives in one piece leaves with its head in a single end().
 */
export class ResponseRelay {
  readonly #res: ServerResponse;
  readonly #method: string | undefined;
  #socket: Socket | null = null;
  /** The backend's Content-Length, or -1. */
  #length = -1;
  /** The client response was ended with the whole body. */
  #ended = false;
  #flow: Flow | null = null;
  #drainListening = false;
  /** Chunks for the socket not written yet (this turn's), and their bytes. */
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  bytesOut = 0;

  constructor(res: ServerResponse, method: string | undefined) {
    this.#res = res;
    this.#method = method;
  }

  /**
   * Writes the head. `flush`: send it now (a stream that may stay silent for a long prefill); otherwise it
   * leaves with the first body write (a body of known length, or a held stream head with its first event).
   */
  head(status: number, statusMessage: string, headers: string[], contentLength: string | string[] | undefined, flush: boolean): void {
    const res = this.#res;
    res.writeHead(status, statusMessage || undefined, headers);
    if (typeof contentLength === 'string') this.#length = Number(contentLength);
    else if (contentLength === undefined && flush) {
      res.flushHeaders();
      this.#socket = chunkedSocketOf(res, this.#method);
    }
  }

  write(chunk: Buffer, flow: Flow): void {
    if (chunk.length === 0) return;
    if (this.bytesOut === 0 && chunk.length === this.#length) {
      // The whole body in one piece (most small responses): head and body leave in one end() call,
      // without write()'s cork and next-tick uncork.
      this.bytesOut = chunk.length;
      this.#ended = true;
      this.#res.end(chunk);
      return;
    }
    this.bytesOut += chunk.length;
    if (this.#socket !== null) {
      // When the backend is quicker than the proxy, one read from it holds several events, each its own
      // HTTP chunk: they leave together, one frame and one syscall instead of one per token (issue 18).
      this.#flow = flow;
      if (this.#pendingBytes === 0) process.nextTick(this.#flushPending);
      this.#pending.push(chunk);
      this.#pendingBytes += chunk.length;
      return;
    }
    const first = this.bytesOut === chunk.length;
    const written = this.#res.write(chunk);
    // A held stream head went out with this first chunk: from now on the chunks may go straight to the socket.
    if (first && this.#length < 0) this.#socket = chunkedSocketOf(this.#res, this.#method);
    if (!written) this.#pause(flow, this.#res);
  }

  end(): void {
    this.#flushPending();
    if (!this.#ended) this.#res.end();
    this.#ended = true;
  }

  /** Too late for a status: an abruptly closed response is the only honest signal left. */
  destroy(): void {
    this.#dropPending();
    this.#res.destroy();
  }

  /** Leaves no listener of ours on the socket, which outlives this response (keep-alive). */
  release(): void {
    if (!this.#drainListening) return;
    this.#drainListening = false;
    this.#res.off('drain', this.#onDrain);
    this.#socket?.off('drain', this.#onDrain);
  }

  #pause(flow: Flow, emitter: Socket | ServerResponse): void {
    // The client reads slower than the backend sends: stop reading upstream until it catches up.
    flow.pause();
    this.#flow = flow;
    if (this.#drainListening) return;
    this.#drainListening = true;
    emitter.once('drain', this.#onDrain);
  }

  readonly #flushPending = (): void => {
    const bytes = this.#pendingBytes;
    if (bytes === 0) return;
    const socket = this.#socket as Socket;
    const frame = frameChunks(this.#pending, bytes);
    this.#dropPending();
    // A destroyed socket means the client left: its 'close' is on the way and ends the exchange.
    if (socket.destroyed || socket.write(frame)) return;
    this.#pause(this.#flow as Flow, socket);
  };

  #dropPending(): void {
    this.#pending.length = 0;
    this.#pendingBytes = 0;
  }

  readonly #onDrain = (): void => {
    this.#drainListening = false;
    this.#flow?.resume();
  };
}
