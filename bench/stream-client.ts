import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';

/** Matches each content event of the mock (`"content":" tok0"`), never the role chunk (`"content":""`). */
const TOKEN_MARK = '"content":" tok';
/** A usage chunk; the other chunks carry `"usage":null` when usage was asked for, or no usage field. */
const USAGE_MARK = '"usage":{';
const DONE_MARK = 'data: [DONE]';
const EVENT_END = '\n\n';
/** A content event read less than this after the previous one of its stream came in the same burst (tokens are 20 ms apart). */
const BATCHED_GAP_MS = 1;

const BUCKET_MS = 0.01;
const BUCKETS = 200_000; // 10 µs buckets up to 2 s; slower values are kept exactly

/** Fixed-resolution latency histogram: O(1) per value, no allocation while streams run. */
export class Histogram {
  readonly #buckets = new Uint32Array(BUCKETS);
  readonly #overflow: number[] = [];
  #count = 0;

  get count(): number {
    return this.#count;
  }

  record(ms: number, times = 1): void {
    this.#count += times;
    const bucket = Math.floor(ms / BUCKET_MS);
    if (bucket < BUCKETS) {
      this.#buckets[Math.max(0, bucket)]! += times;
      return;
    }
    for (let i = 0; i < times; i++) this.#overflow.push(ms);
  }

  /** The value at quantile q (0..1), in ms (the middle of its 10 µs bucket); null when empty. */
  quantile(q: number): number | null {
    if (this.#count === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.#count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#buckets[i]!;
      if (seen >= rank) return (i + 0.5) * BUCKET_MS;
    }
    const sorted = [...this.#overflow].sort((a, b) => a - b);
    return sorted[rank - seen - 1] ?? sorted[sorted.length - 1] ?? null;
  }
}

export interface StreamLoadOptions {
  origin: string;
  path: string;
  body: string;
  headers: Record<string, string>;
  /** Content events every complete stream must deliver. */
  tokensPerStream: number;
  concurrency: number;
  /** The first `concurrency` streams start evenly spread over this time, so their tokens do not arrive in lockstep. */
  rampMs: number;
}

/** What the client saw. "window" counters only move between beginWindow() and endWindow(). */
export interface StreamLoadStats {
  started: number;
  /** Status 200 and ended with [DONE]. */
  completed: number;
  non2xx: number;
  /** Transport errors (reset, timeout) and bodies that ended without [DONE]. */
  errors: number;
  /** Still open when the bounded wait after the window ran out; aborted. */
  unfinished: number;
  /** Σ over every ended stream of (tokensPerStream − content events received). */
  lostTokens: number;
  /** Usage-only chunks received; the request never asked for usage, so any is a leak of the proxy's injection. */
  usageChunks: number;
  tokensTotal: number;
  windowTokens: number;
  /**
   * Content events read less than 1 ms after the previous one of their stream: relayed in the same burst (one
   * TCP read; undici emits one 'data' per HTTP chunk, so a burst shows as several reads microseconds apart).
   */
  windowBatchedTokens: number;
  /** Streams started inside the window: request start to first content event. */
  ttft: Histogram;
  /** Time between two consecutive content events of one stream, received inside the window. */
  gaps: Histogram;
  /** A few distinct error messages, for the report. */
  errorSamples: string[];
}

/**
 * Keeps `concurrency` streamed completions in flight through one undici Pool (one connection per stream):
 * every stream that ends is replaced at once until stopStarting(). Parses just enough of the SSE bytes to
 * count content events, usage chunks and [DONE], with the arrival time of each read.
 */
export class StreamLoad {
  readonly stats: StreamLoadStats = {
    started: 0,
    completed: 0,
    non2xx: 0,
    errors: 0,
    unfinished: 0,
    lostTokens: 0,
    usageChunks: 0,
    tokensTotal: 0,
    windowTokens: 0,
    windowBatchedTokens: 0,
    ttft: new Histogram(),
    gaps: new Histogram(),
    errorSamples: [],
  };
  readonly #options: StreamLoadOptions;
  readonly #pool: Pool;
  /** Set when the bounded wait ran out: the pool is destroyed and the errors it causes are not failures of the target. */
  #aborting = false;
  readonly #rampTimers: NodeJS.Timeout[] = [];
  #inFlight = 0;
  #measuring = false;
  #starting = true;
  #onIdle: (() => void) | null = null;

  constructor(options: StreamLoadOptions) {
    this.#options = options;
    this.#pool = new Pool(options.origin, {
      connections: options.concurrency,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  start(): void {
    const { concurrency, rampMs } = this.#options;
    for (let i = 0; i < concurrency; i++) {
      this.#rampTimers.push(setTimeout(() => this.#launch(), (i * rampMs) / concurrency));
    }
  }

  beginWindow(): void {
    this.#measuring = true;
  }

  endWindow(): void {
    this.#measuring = false;
  }

  /** No new streams from now on; resolves true when every open stream ended within timeoutMs, else aborts them. */
  async finish(timeoutMs: number): Promise<boolean> {
    this.#starting = false;
    for (const timer of this.#rampTimers) clearTimeout(timer);
    if (this.#inFlight > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => {
          this.#onIdle = resolve;
        }),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
        }),
      ]);
      clearTimeout(timer);
    }
    const drained = this.#inFlight === 0;
    if (!drained) {
      this.stats.unfinished += this.#inFlight;
      this.#aborting = true;
    }
    // Rejects whatever is still open (no per-request AbortSignal: thousands of listeners on one signal).
    await this.#pool.destroy();
    return drained;
  }

  #launch(): void {
    if (!this.#starting) return;
    this.#inFlight++;
    this.stats.started++;
    void this.#runOne().finally(() => {
      this.#inFlight--;
      if (this.#starting) this.#launch();
      else if (this.#inFlight === 0) this.#onIdle?.();
    });
  }

  async #runOne(): Promise<void> {
    const { path, body, headers, tokensPerStream } = this.#options;
    const stats = this.stats;
    const startedAt = performance.now();
    const startedInWindow = this.#measuring;
    let tokens = 0;
    let lastTokenAt = 0;
    let carry = '';
    let done = false;
    try {
      const response = await this.#pool.request({ path, method: 'POST', headers, body });
      if (response.statusCode !== 200) {
        stats.non2xx++;
        this.#sample(`HTTP ${response.statusCode}`);
        await response.body.dump();
        return;
      }
      await new Promise<void>((resolve, reject) => {
        const stream = response.body;
        stream.on('data', (chunk: Buffer) => {
          const now = performance.now();
          const text = carry + chunk.toString('latin1');
          const end = text.lastIndexOf(EVENT_END);
          if (end === -1) {
            carry = text;
            return;
          }
          carry = text.slice(end + EVENT_END.length);
          const count = countBefore(text, TOKEN_MARK, end);
          stats.usageChunks += countBefore(text, USAGE_MARK, end);
          if (!done && countBefore(text, DONE_MARK, end) > 0) done = true;
          if (count === 0) return;
          if (this.#measuring) {
            if (tokens === 0) {
              if (startedInWindow) stats.ttft.record(now - startedAt);
            } else {
              const gap = now - lastTokenAt;
              stats.gaps.record(gap);
              if (gap < BATCHED_GAP_MS) stats.windowBatchedTokens++;
            }
            // Several content events in one read: their gaps are 0.
            if (count > 1) {
              stats.gaps.record(0, count - 1);
              stats.windowBatchedTokens += count - 1;
            }
            stats.windowTokens += count;
          }
          tokens += count;
          lastTokenAt = now;
        });
        stream.once('end', resolve);
        stream.once('error', reject);
      });
      if (done) {
        stats.completed++;
      } else {
        stats.errors++;
        this.#sample('body ended without [DONE]');
      }
    } catch (err) {
      if (!this.#aborting) {
        stats.errors++;
        this.#sample(err instanceof Error ? `${err.name}: ${err.message}` : String(err));
      }
    } finally {
      stats.tokensTotal += tokens;
      // An aborted stream was cut by us after the bounded wait: counted as unfinished, its missing tokens as lost.
      stats.lostTokens += Math.max(0, tokensPerStream - tokens);
    }
  }

  #sample(message: string): void {
    if (this.stats.errorSamples.length < 5 && !this.stats.errorSamples.includes(message)) this.stats.errorSamples.push(message);
  }
}

/** Occurrences of `mark` starting before index `end` of `text`. */
function countBefore(text: string, mark: string, end: number): number {
  let count = 0;
  for (let at = text.indexOf(mark); at !== -1 && at < end; at = text.indexOf(mark, at + mark.length)) count++;
  return count;
}
