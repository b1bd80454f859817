import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { emptyStreamLoadStats, type StreamLoadStats } from '../measurement/stream-load-stats.js';

/** Matches each content event of the mock (`"content":" tok0"`), never the role chunk (`"content":""`). */
const TOKEN_MARK = '"content":" tok';
/** A usage chunk; the other chunks carry `"usage":null` when usage was asked for, or no usage field. */
const USAGE_MARK = '"usage":{';
const DONE_MARK = 'data: [DONE]';
const EVENT_END = '\n\n';
/** A content event read less than this after the previous one of its stream came in the same burst (tokens are 20 ms apart). */
const BATCHED_GAP_MS = 1;

/** What the client knows of one open stream while it reads it. */
interface OpenStream {
  startedAt: number;
  startedInWindow: boolean;
  /** Content events received so far. */
  tokens: number;
  lastTokenAt: number;
  /** The start of an event whose end has not arrived yet. */
  carry: string;
  /** `data: [DONE]` seen. */
  done: boolean;
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

/**
 * Keeps `concurrency` streamed completions in flight through one undici Pool (one connection per stream):
 * every stream that ends is replaced at once until stopStarting(). Parses just enough of the SSE bytes to
 * count content events, usage chunks and [DONE], with the arrival time of each read.
 */
export class StreamLoad {
  readonly stats: StreamLoadStats = emptyStreamLoadStats();
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
    const stream: OpenStream = {
      startedAt: performance.now(),
      startedInWindow: this.#measuring,
      tokens: 0,
      lastTokenAt: 0,
      carry: '',
      done: false,
    };
    try {
      const response = await this.#pool.request({ path, method: 'POST', headers, body });
      if (response.statusCode !== 200) {
        stats.non2xx++;
        this.#sample(`HTTP ${response.statusCode}`);
        await response.body.dump();
        return;
      }
      await new Promise<void>((resolve, reject) => {
        response.body.on('data', (chunk: Buffer) => this.#read(stream, chunk));
        response.body.once('end', resolve);
        response.body.once('error', reject);
      });
      if (stream.done) {
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
      stats.tokensTotal += stream.tokens;
      // An aborted stream was cut by us after the bounded wait: counted as unfinished, its missing tokens as lost.
      stats.lostTokens += Math.max(0, tokensPerStream - stream.tokens);
    }
  }

  /** One read of a stream's body: counts the complete events in it, at the time it arrived. */
  #read(stream: OpenStream, chunk: Buffer): void {
    const now = performance.now();
    const text = stream.carry + chunk.toString('latin1');
    const end = text.lastIndexOf(EVENT_END);
    if (end === -1) {
      stream.carry = text;
      return;
    }
    stream.carry = text.slice(end + EVENT_END.length);
    const count = countBefore(text, TOKEN_MARK, end);
    this.stats.usageChunks += countBefore(text, USAGE_MARK, end);
    if (!stream.done && countBefore(text, DONE_MARK, end) > 0) stream.done = true;
    if (count === 0) return;
    if (this.#measuring) this.#recordInWindow(stream, now, count);
    stream.tokens += count;
    stream.lastTokenAt = now;
  }

  /** TTFT of a stream that started in the window, the gaps before `count` content events read at `now`. */
  #recordInWindow(stream: OpenStream, now: number, count: number): void {
    const stats = this.stats;
    if (stream.tokens === 0) {
      if (stream.startedInWindow) stats.ttft.record(now - stream.startedAt);
    } else {
      const gap = now - stream.lastTokenAt;
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
