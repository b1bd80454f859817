import type { Server } from 'node:http';
import type { Socket } from 'node:net';

export interface ConnectionState {
  active: number;
  idleSinceMs: number;
}

/**
 * Knows, for each client connection, whether a request is in progress and since when it has been idle.
 * A draining worker closes only connections idle for a while: closing one that a client is about to
 * reuse races with its next request (the client sees a reset for a request it had every right to send),
 * and a client that sends back to back is told `Connection: close` on its next response instead.
 */
export class ConnectionTracker {
  readonly #connections = new Map<Socket, ConnectionState>();

  constructor(server: Server) {
    server.on('connection', (socket: Socket) => {
      this.#connections.set(socket, { active: 0, idleSinceMs: Date.now() });
      socket.once('close', () => this.#connections.delete(socket));
    });
  }

  /** A request started on `socket`; pass the result to requestEnded() when its response closes. */
  requestStarted(socket: Socket): ConnectionState | undefined {
    const state = this.#connections.get(socket);
    if (state !== undefined) state.active++;
    return state;
  }

  requestEnded(state: ConnectionState | undefined): void {
    if (state === undefined) return;
    state.active--;
    state.idleSinceMs = Date.now();
  }

  /** Ends connections with no request in progress that have been idle for at least `minIdleMs`. */
  closeIdle(minIdleMs: number): void {
    const now = Date.now();
    for (const [socket, state] of this.#connections) {
      if (state.active === 0 && now - state.idleSinceMs >= minIdleMs) socket.destroySoon();
    }
  }

  get size(): number {
    return this.#connections.size;
  }
}
