import { type EngineLoad, readEngineLoad } from '../engines/engine-registry.js';
import { ProbeConnection } from './probe-connection.js';

/** Where a backend's /metrics is. */
export interface ProbeTarget {
  readonly url: string;
  readonly origin: string;
  readonly basePath: string;
  readonly host: string;
}

export interface EngineProberOptions {
  /** --load-interval: time between two reads of a backend's /metrics while the proxy has traffic. */
  readonly intervalMs: number;
  /** Time between two reads while no request is in progress anywhere in the instance; 0: none until traffic comes. */
  readonly idleIntervalMs: number;
  /** Time a read may take. */
  readonly timeoutMs: number;
}

export interface EngineProberHooks {
  /** A new reading of the backend's engine, or null: its last reading went stale. */
  reading(url: string, load: EngineLoad | null): void;
  /** True while the instance has requests in progress: the prober then reads every interval. */
  busy(): boolean;
}

/** A reading is stale, and ignored, once it is older than this many intervals (of the pace it was read at). */
const STALE_AFTER_INTERVALS = 3;
/** A backend whose /metrics is no engine's we know (or that has none) is asked again this rarely. */
const NOT_AN_ENGINE_RETRY_MS = 60_000;
/** Beyond this, a /metrics body is not read. */
const MAX_METRICS_BYTES = 8 * 1024 * 1024;

interface Watched {
  readonly target: ProbeTarget;
  timer: NodeJS.Timeout | null;
  staleTimer: NodeJS.Timeout | null;
  /** When the next read is due (epoch ms); a wake-up brings a far one forward. */
  dueMs: number;
  reading: boolean;
  hasReading: boolean;
  /** The engine its last reading came from: its parser is tried first. */
  engine: string | null;
  /** Its connection for the reads, kept between them (see ProbeConnection: an undici request per read cost more than the read). */
  readonly connection: ProbeConnection;
}

/**
 * Reads every backend's GET /metrics, one prober per proxy instance (in the primary), and turns it into
 * an engine load with the engine parsers. While the instance has traffic it reads each backend every
 * --load-interval, each at its own phase so the reads are spread over the interval; while nothing is in
 * progress it reads at the idle pace (the health checks', so an idle proxy costs next to nothing), or not
 * at all, and the first request wakes it. A reading stays good for three intervals of the pace it was
 * taken at, then it is stale: the hook hears null, and routing falls back to the proxy's own counts.
 */
export class EngineProber {
  readonly #options: () => EngineProberOptions;
  readonly #hooks: EngineProberHooks;
  readonly #watched = new Map<string, Watched>();
  #closed = false;

  /** `options` is read at every step, so that a reload's new interval takes effect. */
  constructor(options: () => EngineProberOptions, hooks: EngineProberHooks) {
    this.#options = options;
    this.#hooks = hooks;
  }

  /** Starts reading a backend, its first read `phase` (0 to 1) into the interval, so that the reads are spread over it. */
  watch(target: ProbeTarget, phase = Math.random()): void {
    const interval = this.#options().intervalMs;
    if (this.#closed || this.#watched.has(target.url) || interval === 0) return;
    const watched: Watched = {
      target,
      timer: null,
      staleTimer: null,
      dueMs: 0,
      reading: false,
      hasReading: false,
      engine: null,
      connection: new ProbeConnection(target.origin),
    };
    this.#watched.set(target.url, watched);
    this.#schedule(watched, phase * interval);
  }

  get watching(): number {
    return this.#watched.size;
  }

  /** Stops reading a backend (it left the fleet, or reads were turned off); its reading is dropped without a hook call. */
  forget(url: string): void {
    const watched = this.#watched.get(url);
    if (watched === undefined) return;
    this.#watched.delete(url);
    if (watched.timer !== null) clearTimeout(watched.timer);
    if (watched.staleTimer !== null) clearTimeout(watched.staleTimer);
    watched.connection.close();
  }

  /** Traffic started: every backend due later than one interval from now is read within one interval. */
  wake(): void {
    const interval = this.#options().intervalMs;
    const now = Date.now();
    for (const watched of this.#watched.values()) {
      if (watched.reading || watched.dueMs - now <= interval) continue;
      this.#schedule(watched, Math.random() * Math.min(interval, 10));
    }
  }

  /** Not read again until traffic wakes it (idle, without an idle pace). */
  #park(watched: Watched): void {
    if (watched.timer !== null) clearTimeout(watched.timer);
    watched.timer = null;
    watched.dueMs = Number.POSITIVE_INFINITY;
  }

  close(): void {
    this.#closed = true;
    for (const url of [...this.#watched.keys()]) this.forget(url);
  }

  #schedule(watched: Watched, delayMs: number): void {
    if (watched.timer !== null) clearTimeout(watched.timer);
    watched.dueMs = Date.now() + delayMs;
    watched.timer = setTimeout(() => {
      watched.timer = null;
      void this.#read(watched);
    }, delayMs);
    watched.timer.unref();
  }

  async #read(watched: Watched): Promise<void> {
    const { target } = watched;
    watched.reading = true;
    const options = this.#options();
    const text = await readMetrics(watched.connection, target, options.timeoutMs);
    watched.reading = false;
    if (this.#closed || this.#watched.get(target.url) !== watched) return;
    const load = text === null ? null : readEngineLoad(text, watched.engine);
    if (load !== null) watched.engine = load.engine;
    const busy = this.#hooks.busy();
    const pace = busy || options.idleIntervalMs === 0 ? options.intervalMs : Math.max(options.intervalMs, options.idleIntervalMs);
    if (load !== null) this.#fresh(watched, load, pace);
    // An answer that is no engine's: it will not become one soon.
    if (text !== null && load === null) this.#schedule(watched, NOT_AN_ENGINE_RETRY_MS);
    else if (!busy && options.idleIntervalMs === 0) this.#park(watched);
    else this.#schedule(watched, pace);
  }

  #fresh(watched: Watched, load: EngineLoad, pace: number): void {
    watched.hasReading = true;
    if (watched.staleTimer !== null) clearTimeout(watched.staleTimer);
    watched.staleTimer = setTimeout(() => {
      watched.staleTimer = null;
      watched.hasReading = false;
      this.#hooks.reading(watched.target.url, null);
    }, STALE_AFTER_INTERVALS * pace);
    watched.staleTimer.unref();
    this.#hooks.reading(watched.target.url, load);
  }
}

/** The text of GET <backend>/metrics; null when it cannot be read (unreachable, slow, not 200, too large). */
async function readMetrics(connection: ProbeConnection, target: ProbeTarget, timeoutMs: number): Promise<string | null> {
  try {
    const { status, body } = await connection.get({
      path: `${target.basePath}/metrics`,
      headers: `Host: ${target.host}\r\nAccept: text/plain\r\nUser-Agent: inference-proxy-load\r\n`,
      timeoutMs,
      keepBody: true,
      maxBodyBytes: MAX_METRICS_BYTES,
    });
    // A 404 is an answer (this backend has no metrics), not a failure to read.
    if (status === 404) return '';
    return status === 200 && body !== null ? body.toString('utf8') : null;
  } catch {
    return null;
  }
}
