import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { MalformedResponse, ProbeResponse } from './probe-response.js';

export interface ProbeRequest {
  /** The path and query, as sent. */
  readonly path: string;
  readonly headers: string;
  readonly timeoutMs: number;
  /** Keep the body (a model list) up to maxBodyBytes; otherwise it is only read past. */
  readonly keepBody: boolean;
  readonly maxBodyBytes: number;
}

export interface ProbeAnswer {
  readonly status: number;
  /** The body, when kept and not over the limit; else null. */
  readonly body: Buffer | null;
}

/** Why a probe got no answer, as the health checks count it. */
export class ProbeFailure extends Error {
  readonly result: 'timeout' | 'unreachable';
  constructor(result: 'timeout' | 'unreachable', cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.result = result;
  }
}

function ignore(): void {}

/** A reused connection that the backend had closed (or closed as the request arrived): try again on a new one. */
const STALE = Symbol('stale');

/**
 * The primary's connection to one backend for its health checks and model reads: a GET written by hand on
 * a socket kept open between them, the answer read by ProbeResponse. What undici does for a request
 * (dispatcher, handler and body stream objects, its connect machinery, an Agent's pool built anew when the
 * last connection to an origin closed) cost an idle primary in front of 64 backends 4.1% of a core; one
 * undici Client kept per backend and no AbortSignal still 3.3%; this, 1.8% (docs/benchmarks.md, idle
 * CPU; issue 18).
 *
 * Keep-alive race: a backend closes a connection it found idle (uvicorn after 5 s), possibly just as a
 * request on it arrives. A kept connection that ends or fails before any byte of the answer came is not a
 * failed check: the request goes again at once on a new connection, once.
 */
export class ProbeConnection {
  readonly #hostname: string;
  readonly #port: number;
  readonly #tls: boolean;
  /** The connection kept for the next request; at most one (a second request meanwhile opens its own). */
  #idle: Socket | null = null;
  #closed = false;

  /** `origin`: `http://host:port` or `https://...`, where the requests go (the Host header is the caller's). */
  constructor(origin: string) {
    const url = new URL(origin);
    this.#tls = url.protocol === 'https:';
    this.#hostname = url.hostname.replace(/^\[|\]$/g, '');
    this.#port = url.port === '' ? (this.#tls ? 443 : 80) : Number(url.port);
  }

  /** Sends the GET; resolves with the answer, or rejects with a ProbeFailure. */
  async get(request: ProbeRequest): Promise<ProbeAnswer> {
    const bytes = Buffer.from(`GET ${request.path} HTTP/1.1\r\n${request.headers}\r\n`, 'latin1');
    const deadline = new Deadline(request.timeoutMs);
    try {
      const kept = this.#takeIdle();
      if (kept !== null) {
        const answer = await this.#exchange(kept, bytes, request, deadline, true);
        if (answer !== STALE) return answer;
      }
      const socket = await this.#connect(deadline);
      return (await this.#exchange(socket, bytes, request, deadline, false)) as ProbeAnswer;
    } finally {
      deadline.clear();
    }
  }

  close(): void {
    this.#closed = true;
    this.#idle?.destroy();
    this.#idle = null;
  }

  #connect(deadline: Deadline): Promise<Socket> {
    if (this.#closed) return Promise.reject(new ProbeFailure('unreachable', new Error('closed')));
    return new Promise<Socket>((resolve, reject) => {
      const host = this.#hostname;
      const socket = this.#tls
        ? tlsConnect({ host, port: this.#port, servername: isIP(host) === 0 ? host : undefined, ALPNProtocols: ['http/1.1'] })
        : netConnect({ host, port: this.#port });
      // Every error reaches the listeners of the moment; this one only keeps an error between two of them
      // (after connect, before the request's own) from being an uncaught 'error' event.
      socket.on('error', ignore);
      const ready = this.#tls ? 'secureConnect' : 'connect';
      const settle = (err: ProbeFailure | null): void => {
        socket.off(ready, onReady);
        socket.off('error', onError);
        deadline.onExpired(null);
        if (err === null) resolve(socket);
        else {
          socket.destroy();
          reject(err);
        }
      };
      const onReady = (): void => {
        socket.setNoDelay(true);
        settle(null);
      };
      const onError = (err: Error): void => settle(new ProbeFailure('unreachable', err));
      socket.once(ready, onReady);
      socket.once('error', onError);
      deadline.onExpired((err) => settle(err));
    });
  }

  /** Writes the request on `socket` and reads its answer; STALE when a kept socket died before answering. */
  #exchange(socket: Socket, bytes: Buffer, request: ProbeRequest, deadline: Deadline, kept: boolean): Promise<ProbeAnswer | typeof STALE> {
    return new Promise((resolve, reject) => {
      const response = new ProbeResponse(request.keepBody, request.maxBodyBytes);
      let answered = false;
      const settle = (outcome: ProbeAnswer | typeof STALE | ProbeFailure): void => {
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.off('error', onError);
        socket.off('close', onEnd);
        deadline.onExpired(null);
        if (outcome instanceof ProbeFailure) {
          socket.destroy();
          reject(outcome);
          return;
        }
        if (outcome !== STALE && response.reusable && response.extra === 0) this.#keepIdle(socket);
        else socket.destroy();
        resolve(outcome);
      };
      const answer = (): ProbeAnswer => ({ status: response.status, body: response.body() });
      const fail = (err: unknown): void => settle(kept && !answered ? STALE : new ProbeFailure('unreachable', err));
      const onData = (chunk: Buffer): void => {
        answered = true;
        try {
          if (response.push(chunk)) settle(answer());
        } catch (err) {
          settle(new ProbeFailure('unreachable', err));
        }
      };
      const onEnd = (): void => {
        if (response.end()) settle(answer());
        else fail(new MalformedResponse('the connection closed before the answer was complete'));
      };
      const onError = (err: Error): void => fail(err);
      socket.on('data', onData);
      socket.once('end', onEnd);
      socket.once('close', onEnd);
      socket.once('error', onError);
      deadline.onExpired((err) => settle(err));
      socket.write(bytes);
    });
  }

  /** Keeps a connection for the next request, unless one is kept already; the backend closing it while idle drops it. */
  #keepIdle(socket: Socket): void {
    if (this.#closed || this.#idle !== null) {
      socket.destroy();
      return;
    }
    this.#idle = socket;
    socket.once('data', this.#dropIdle);
    socket.once('end', this.#dropIdle);
    socket.once('error', this.#dropIdle);
  }

  /** The kept connection if it is still open (listeners off: the next exchange puts its own). */
  #takeIdle(): Socket | null {
    const socket = this.#idle;
    if (socket === null) return null;
    this.#idle = null;
    socket.off('data', this.#dropIdle);
    socket.off('end', this.#dropIdle);
    socket.off('error', this.#dropIdle);
    if (socket.destroyed || socket.readableEnded || !socket.writable) {
      socket.destroy();
      return null;
    }
    return socket;
  }

  /** An idle connection that the backend closed, or that had something to say unasked: gone. */
  readonly #dropIdle = (): void => {
    const socket = this.#idle;
    if (socket === null) return;
    this.#idle = null;
    socket.off('data', this.#dropIdle);
    socket.off('end', this.#dropIdle);
    socket.off('error', this.#dropIdle);
    socket.destroy();
  };
}

/** One timer for a whole request, reconnect included; whoever waits for it sets what happens when it fires. */
class Deadline {
  readonly #timer: NodeJS.Timeout;
  #expired: ProbeFailure | null = null;
  #listener: ((err: ProbeFailure) => void) | null = null;

  constructor(timeoutMs: number) {
    this.#timer = setTimeout(() => {
      this.#expired = new ProbeFailure('timeout', new Error(`no answer within ${timeoutMs} ms`));
      this.#listener?.(this.#expired);
    }, timeoutMs);
  }

  /** Calls `listener` when the deadline passes (at once, if it has); null: nobody waits. */
  onExpired(listener: ((err: ProbeFailure) => void) | null): void {
    this.#listener = listener;
    if (listener !== null && this.#expired !== null) listener(this.#expired);
  }

  clear(): void {
    clearTimeout(this.#timer);
  }
}
