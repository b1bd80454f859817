import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import { type AddressInfo, createServer as createNetServer, type Server as NetServer } from 'node:net';
import { type EngineOptions, EngineScheduler, type EngineStats, emptyEngineStats, type SchedulingPolicy } from './engine-scheduler.js';
import type { MockControlPatch, MockControls } from './mock-controls.js';
import { applyControls, DEFAULT_MOCK_CONTROLS } from './mock-controls.js';
import { handleMockRequest, MOCK_CONTROL_PREFIX } from './mock-routes.js';
import type { MockExchange, MockSettings } from './mock-types.js';
import type { PrefixCacheOptions, PrefixCacheStats } from './prefill-stage.js';
import { emptyPrefixCacheStats, PrefillStage } from './prefill-stage.js';

export { DEFAULT_MOCK_MODEL } from './mock-controls.js';

/** Where to listen and what never changes, plus the starting controls (all of MockControls may be given). */
export interface MockBackendOptions extends MockControlPatch {
  host?: string;
  /** More loopback addresses to take connections on, on the same port (one backend behind several URLs, for benchmarks of a fleet). */
  alsoHosts?: readonly string[];
  port?: number;
  /** Used when a request has neither max_tokens nor max_completion_tokens. */
  defaultMaxTokens?: number;
  /** Shorthand for `models: [model]`. */
  model?: string;
  /** The simulated prefix cache and prefill queue (issue 12 point 5); off when absent. */
  prefixCache?: PrefixCacheOptions;
  /** Sequences running at once (vLLM's --max-num-seqs); the rest wait in a queue. 0 or absent: no limit. */
  maxNumSeqs?: number;
  /** KV cache capacity in tokens; 0 or absent: 2,048 per slot (no limit with no slot limit). */
  kvCacheTokens?: number;
  /** How the queue is ordered: `fcfs` (default) or `priority` (the request's `priority` field, lower first). */
  schedulingPolicy?: SchedulingPolicy;
}

export interface MockBackendStats {
  connections: number;
  /** Every request but those of the control surface (/mock/...). */
  requests: number;
  clientAborts: number;
  completed: number;
  promptTokens: number;
  completionTokens: number;
  /** GET /health requests, answered or not. */
  healthChecks: number;
  /** GET /v1/models requests, listed or not. */
  modelListRequests: number;
  /** POST /v1/chat/completions and /v1/completions requests, whatever their answer. */
  completionRequests: number;
  /** POST /v1/embeddings requests, whatever their answer. */
  embeddingsRequests: number;
  /** The prefix cache and prefill queue; zeros when the prefix cache is off. */
  readonly prefixCache: PrefixCacheStats;
  /** The engine's slots, queue and KV cache, with time integrals brought up to date on every read of stats. */
  readonly engine: EngineStats;
  lastRequest: { method: string; url: string; headers: Record<string, string | string[] | undefined>; body: Buffer } | null;
}

export interface MockBackend {
  readonly url: string;
  readonly port: number;
  readonly stats: MockBackendStats;
  /**
   * Changes the controls from now on (requests in progress keep theirs) and returns them all; with no
   * patch, only returns them. Throws a TypeError naming a bad field.
   */
  control(patch?: MockControlPatch): MockControls;
  close(): Promise<void>;
}

export const DEFAULT_MOCK_HOST = '127.0.0.1';
export const DEFAULT_MOCK_MAX_TOKENS = 16;

class MockBackendServer implements MockBackend {
  readonly #stats: MockBackendStats = {
    connections: 0,
    requests: 0,
    clientAborts: 0,
    completed: 0,
    promptTokens: 0,
    completionTokens: 0,
    healthChecks: 0,
    modelListRequests: 0,
    completionRequests: 0,
    embeddingsRequests: 0,
    prefixCache: emptyPrefixCacheStats(),
    engine: emptyEngineStats(),
    lastRequest: null,
  };
  readonly #server: Server;
  readonly #settings: MockSettings;
  #controls: MockControls;
  /** One cleanup per in-flight request, so close() can stop every timer at once. */
  readonly #inFlight = new Set<() => void>();
  readonly #extraListeners: NetServer[] = [];
  #url = '';
  #port = 0;
  #closing: Promise<void> | undefined;

  constructor(options: MockBackendOptions) {
    const {
      host: _host,
      port: _port,
      alsoHosts: _alsoHosts,
      defaultMaxTokens,
      model,
      prefixCache,
      maxNumSeqs,
      kvCacheTokens,
      schedulingPolicy,
      ...patch
    } = options;
    const controls = applyControls(DEFAULT_MOCK_CONTROLS, {
      ...patch,
      models: patch.models ?? (model === undefined ? undefined : [model]),
    });
    if (typeof controls === 'string') throw new TypeError(controls);
    this.#controls = controls;
    this.#settings = {
      defaultMaxTokens: defaultMaxTokens ?? DEFAULT_MOCK_MAX_TOKENS,
      createdSec: Math.floor(Date.now() / 1000),
      prefill: prefixCache === undefined ? null : new PrefillStage(prefixCache, this.#stats.prefixCache),
      engine: new EngineScheduler(engineOptions(maxNumSeqs, kvCacheTokens, schedulingPolicy), this.#stats.engine),
    };
    this.#server = createServer((req, res) => this.#onRequest(req, res));
    this.#server.on('connection', () => {
      this.#stats.connections++;
    });
  }

  get stats(): MockBackendStats {
    this.#settings.engine.refresh();
    return this.#stats;
  }

  get url(): string {
    return this.#url;
  }

  get port(): number {
    return this.#port;
  }

  control(patch: MockControlPatch = {}): MockControls {
    const controls = this.#applyControls(patch);
    if (typeof controls === 'string') throw new TypeError(controls);
    return controls;
  }

  #applyControls(patch: unknown): MockControls | string {
    const controls = applyControls(this.#controls, patch);
    if (typeof controls !== 'string') this.#controls = controls;
    return controls;
  }

  async listen(host: string, port: number, alsoHosts: readonly string[] = []): Promise<void> {
    await listenOn(this.#server, host, port);
    this.#port = (this.#server.address() as AddressInfo).port;
    this.#url = `http://${host.includes(':') ? `[${host}]` : host}:${this.#port}`;
    for (const other of alsoHosts) {
      // Connections accepted there are served by the one HTTP server, exactly as those on `host`: with
      // Nagle off too, as http.Server does by default (else a token write waits for the client's delayed ACK).
      const listener = createNetServer({ noDelay: true }, (socket) => this.#server.emit('connection', socket));
      await listenOn(listener, other, this.#port);
      this.#extraListeners.push(listener);
    }
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutDown();
    return this.#closing;
  }

  async #shutDown(): Promise<void> {
    for (const stop of [...this.#inFlight]) stop();
    for (const listener of this.#extraListeners) listener.close();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    // A test reading /mock/stats must not change what it reads.
    const counted = !path.startsWith(MOCK_CONTROL_PREFIX);
    if (counted) this.#stats.requests++;
    const controls = this.#controls;
    const stops: Array<() => void> = [];
    let closed = false;
    let crashed = false;
    const stopAll = (): void => {
      this.#inFlight.delete(stopAll);
      for (const stop of stops.splice(0)) stop();
    };
    this.#inFlight.add(stopAll);
    res.on('finish', () => {
      if (counted) this.#stats.completed++;
    });
    res.on('close', () => {
      closed = true;
      stopAll();
      if (!res.writableFinished && !crashed && this.#closing === undefined) this.#stats.clientAborts++;
    });
    const exchange = (body: Buffer): MockExchange => ({
      req,
      res,
      body,
      path,
      settings: this.#settings,
      controls,
      stats: this.#stats,
      control: (patch) => this.#applyControls(patch),
      onStop: (stop) => {
        if (closed) stop();
        else stops.push(stop);
      },
      crash: () => {
        crashed = true;
        const socket = res.socket;
        // Node corks until the next tick, and a crashed server's earlier writes would already be in the
        // kernel, so hand them over before dropping the connection. Node 20 corks the socket; Node 24
        // corks the response and holds that tick's chunked writes in it (socket.uncork() alone loses them).
        while (res.writableCorked) res.uncork();
        while (socket?.writableCorked) socket.uncork();
        socket?.destroy();
      },
    });
    this.#readBody(req, (body) => {
      if (counted) this.#stats.lastRequest = { method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers }, body };
      handleMockRequest(exchange(body));
    });
  }

  #readBody(req: IncomingMessage, onBody: (body: Buffer) => void): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    // A client that resets mid-upload shows up as the response's 'close'; nothing to answer.
    req.on('error', () => {});
    req.on('end', () => onBody(Buffer.concat(chunks)));
  }
}

/** Starts a simulated OpenAI-compatible inference server (vLLM wire format) on a loopback port. */
export async function createMockBackend(options: MockBackendOptions = {}): Promise<MockBackend> {
  const backend = new MockBackendServer(options);
  await backend.listen(options.host ?? DEFAULT_MOCK_HOST, options.port ?? 0, options.alsoHosts);
  return backend;
}

function engineOptions(maxNumSeqs?: number, kvCacheTokens?: number, schedulingPolicy?: SchedulingPolicy): EngineOptions {
  for (const [name, value] of [
    ['maxNumSeqs', maxNumSeqs],
    ['kvCacheTokens', kvCacheTokens],
  ] as const) {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) throw new TypeError(`${name} must be a non-negative integer`);
  }
  if (schedulingPolicy !== undefined && schedulingPolicy !== 'fcfs' && schedulingPolicy !== 'priority')
    throw new TypeError("schedulingPolicy must be 'fcfs' or 'priority'");
  return { maxNumSeqs, kvCacheTokens, schedulingPolicy };
}

function listenOn(server: NetServer, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
