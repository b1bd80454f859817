import { Client, type Dispatcher } from 'undici';
import type { RequestSpec } from './overhead-messages.js';

/** Bounds of one request of the overhead client: a target that holds a request longer has failed it. */
const REQUEST_TIMEOUT_MS = 30_000;

/** Called once per request: the status (0 after an error) and the error, if any. */
export type OnAnswer = (status: number, error: Error | null) => void;

/**
 * One keep-alive connection of the overhead client: an undici Client, one request at a time, the same request
 * every time. It uses undici's dispatch() with a handler in the older shape (onHeaders, onData, onComplete),
 * which undici calls as is: no response stream, no header object, no per-request wrapper, so the client spends
 * as little as it can per request and shares the cores with the target as little as it can.
 */
export class LoadConnection {
  readonly #client: Client;
  readonly #request: Dispatcher.DispatchOptions;
  readonly #handler: Dispatcher.DispatchHandler;
  #status = 0;
  #onAnswer: OnAnswer | null = null;

  constructor(spec: RequestSpec) {
    this.#client = new Client(spec.origin, {
      pipelining: 1,
      headersTimeout: REQUEST_TIMEOUT_MS,
      bodyTimeout: REQUEST_TIMEOUT_MS,
      keepAliveTimeout: REQUEST_TIMEOUT_MS,
    });
    this.#request = { method: 'GET', path: spec.path, headers: spec.headers };
    this.#handler = {
      onConnect: () => undefined,
      onHeaders: (status) => {
        this.#status = status;
        return true;
      },
      onData: () => true,
      onComplete: () => this.#answer(this.#status, null),
      onError: (err) => this.#answer(0, err),
    };
  }

  /** Sends the request; `onAnswer` runs once its response has ended (or failed). */
  send(onAnswer: OnAnswer): void {
    this.#status = 0;
    this.#onAnswer = onAnswer;
    this.#client.dispatch(this.#request, this.#handler);
  }

  /** The same, as a promise (the sequential rounds await each request). */
  sendAndWait(): Promise<{ status: number; error: Error | null }> {
    return new Promise((resolve) => this.send((status, error) => resolve({ status, error })));
  }

  /** Closes the socket at once; a request still in flight gets its error. */
  destroy(): Promise<void> {
    return this.#client.destroy();
  }

  #answer(status: number, error: Error | null): void {
    const onAnswer = this.#onAnswer;
    this.#onAnswer = null;
    onAnswer?.(status, error);
  }
}
