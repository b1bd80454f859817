import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { handleMockRequest } from './mock-routes.js';
import type { MockExchange, MockSettings } from './mock-types.js';

export interface MockBackendOptions {
  host?: string;
  port?: number;
  /** Time to the first token of a stream, and delay before a non-streamed answer starts. */
  ttftMs?: number;
  /** Delay between two token steps; 0 writes them back to back, each in its own write. */
  tokenDelayMs?: number;
  /** Used when a request has neither max_tokens nor max_completion_tokens. */
  defaultMaxTokens?: number;
  /** Model name listed by GET /v1/models. */
  model?: string;
}

export interface MockBackendStats {
  connections: number;
  requests: number;
  clientAborts: number;
  completed: number;
  promptTokens: number;
  completionTokens: number;
  lastRequest: { method: string; url: string; headers: Record<string, string | string[] | undefined>; body: Buffer } | null;
}

export interface MockBackend {
  readonly url: string;
  readonly port: number;
  readonly stats: MockBackendStats;
  close(): Promise<void>;
}

export const DEFAULT_MOCK_HOST = '127.0.0.1';
export const DEFAULT_MOCK_MODEL = 'mock-model';
export const DEFAULT_MOCK_MAX_TOKENS = 16;

class MockBackendServer implements MockBackend {
  readonly stats: MockBackendStats = {
    connections: 0,
    requests: 0,
    clientAborts: 0,
    completed: 0,
    promptTokens: 0,
    completionTokens: 0,
    lastRequest: null,
  };
  readonly #server: Server;
  readonly #settings: MockSettings;
  /** One cleanup per in-flight request, so close() can stop every timer at once. */
  readonly #inFlight = new Set<() => void>();
  #url = '';
  #port = 0;
  #closing: Promise<void> | undefined;

  constructor(settings: MockSettings) {
    this.#settings = settings;
    this.#server = createServer((req, res) => this.#onRequest(req, res));
    this.#server.on('connection', () => {
      this.stats.connections++;
    });
  }

  get url(): string {
    return this.#url;
  }

  get port(): number {
    return this.#port;
  }

  async listen(host: string, port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    this.#port = (this.#server.address() as AddressInfo).port;
    this.#url = `http://${host.includes(':') ? `[${host}]` : host}:${this.#port}`;
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutDown();
    return this.#closing;
  }

  async #shutDown(): Promise<void> {
    for (const stop of [...this.#inFlight]) stop();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.stats.requests++;
    const stops: Array<() => void> = [];
    let closed = false;
    let crashed = false;
    const stopAll = (): void => {
      this.#inFlight.delete(stopAll);
      for (const stop of stops.splice(0)) stop();
    };
    this.#inFlight.add(stopAll);
    res.on('finish', () => {
      this.stats.completed++;
    });
    res.on('close', () => {
      closed = true;
      stopAll();
      if (!res.writableFinished && !crashed && this.#closing === undefined) this.stats.clientAborts++;
    });
    const exchange = (body: Buffer): MockExchange => ({
      req,
      res,
      body,
      path: (req.url ?? '/').split('?', 1)[0] ?? '/',
      settings: this.#settings,
      stats: this.stats,
      onStop: (stop) => {
        if (closed) stop();
        else stops.push(stop);
      },
      crash: () => {
        crashed = true;
        const socket = res.socket;
        // Node corks the socket until the next tick; a crashed server's earlier writes would already be
        // in the kernel, so hand them over before dropping the connection.
        while (socket?.writableCorked) socket.uncork();
        socket?.destroy();
      },
    });
    this.#readBody(req, (body) => handleMockRequest(exchange(body)));
  }

  #readBody(req: IncomingMessage, onBody: (body: Buffer) => void): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    // A client that resets mid-upload shows up as the response's 'close'; nothing to answer.
    req.on('error', () => {});
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      this.stats.lastRequest = { method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers }, body };
      onBody(body);
    });
  }
}

/** Starts a simulated OpenAI-compatible inference server (vLLM wire format) on a loopback port. */
export async function createMockBackend(options: MockBackendOptions = {}): Promise<MockBackend> {
  const backend = new MockBackendServer({
    model: options.model ?? DEFAULT_MOCK_MODEL,
    ttftMs: options.ttftMs ?? 0,
    tokenDelayMs: options.tokenDelayMs ?? 0,
    defaultMaxTokens: options.defaultMaxTokens ?? DEFAULT_MOCK_MAX_TOKENS,
    createdSec: Math.floor(Date.now() / 1000),
  });
  await backend.listen(options.host ?? DEFAULT_MOCK_HOST, options.port ?? 0);
  return backend;
}
