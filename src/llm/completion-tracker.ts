import { SseScanner } from './sse-scanner.js';
import { classifyEvent } from './stream-events.js';
import { type Usage, usageFrom } from './usage.js';

/**
 * How a completion request ended, as stream_outcomes_total counts it: the one list of outcomes. `proxy_cut`:
 * the proxy itself ended it (its drain deadline passed, or its backend left the fleet), not the backend.
 */
export const OUTCOMES = ['completed', 'client_disconnect', 'upstream_error', 'inband_error', 'timeout', 'proxy_cut'] as const;
export type Outcome = (typeof OUTCOMES)[number];
/** How the exchange ended, as the proxy saw it; 'end' is a clean end whose outcome the tracker decides. */
export type Ending = 'end' | Exclude<Outcome, 'completed' | 'inband_error'>;

/** What one completion request amounted to, for metrics and the access log. */
export interface CompletionResult {
  readonly outcome: Outcome;
  readonly promptTokens: number | null;
  readonly completionTokens: number | null;
  /** Completion tokens counted from content events because the backend reported no usage. */
  readonly usageEstimated: boolean;
  /** From request arrival to the first content-bearing event (streams only). */
  readonly ttftMs: number | null;
  /** Mean time per output token after the first (streams with at least 2 tokens). */
  readonly tpotMs: number | null;
}

/** Non-streamed JSON bodies up to this size are kept to read `usage`; larger ones are passed on unread. */
const MAX_JSON_BODY_BYTES = 8 * 1024 * 1024;

type Mode = 'sse' | 'json' | 'none';
const EMPTY = Buffer.alloc(0);

/**
 * Watches one completion response: SSE events (first and last content event times, content event count,
 * usage, in-band errors, [DONE]) or a JSON body (usage). With usage injection it also removes the
 * usage-only chunk the client did not ask for, and then forwards whole events only.
 */
export class CompletionTracker {
  readonly #startMs: number;
  readonly #stripUsageChunk: boolean;
  #mode: Mode = 'none';
  #scanner: SseScanner | null = null;
  #json: Buffer[] | null = null;
  #jsonBytes = 0;
  #held: Buffer = EMPTY;
  #heldStart = 0;
  #firstContentMs = -1;
  #lastContentMs = -1;
  #contentEvents = 0;
  #usage: Usage | null = null;
  #inbandError = false;
  #done = false;

  constructor(startMs: number, stripUsageChunk: boolean) {
    this.#startMs = startMs;
    this.#stripUsageChunk = stripUsageChunk;
  }

  /** A tracker for another attempt of the same request: nothing of this one's reading carries over. */
  restart(): CompletionTracker {
    return new CompletionTracker(this.#startMs, this.#stripUsageChunk);
  }

  /** True when bytes must pass through filter() instead of being forwarded as they come. */
  get filtering(): boolean {
    return this.#mode === 'sse' && this.#stripUsageChunk;
  }

  onResponseStart(statusCode: number, contentType: string | undefined): void {
    if (statusCode !== 200 || contentType === undefined) return;
    if (contentType.startsWith('text/event-stream')) {
      this.#mode = 'sse';
      this.#scanner = new SseScanner((data) => this.#onEvent(data));
    } else if (contentType.includes('json')) {
      this.#mode = 'json';
      this.#json = [];
    }
  }

  /** Reads bytes that were already forwarded. */
  observe(chunk: Buffer): void {
    if (this.#mode === 'sse') (this.#scanner as SseScanner).push(chunk);
    else if (this.#json !== null) {
      this.#jsonBytes += chunk.length;
      if (this.#jsonBytes > MAX_JSON_BODY_BYTES) this.#json = null;
      else this.#json.push(chunk);
    }
  }

  /** Usage injection: returns the bytes to forward now (complete events, minus the usage-only chunk). */
  filter(chunk: Buffer): Buffer | null {
    const scanner = this.#scanner as SseScanner;
    scanner.push(chunk);
    // #held always starts at #heldStart, the first byte not forwarded yet.
    const held = this.#held.length === 0 ? chunk : Buffer.concat([this.#held, chunk]);
    const upTo = scanner.completeUpTo;
    if (upTo === this.#heldStart) {
      this.#held = held === chunk ? Buffer.from(chunk) : held;
      return null;
    }
    const base = this.#heldStart;
    const dropped = scanner.dropped;
    // The common case, one or more whole token events and nothing to remove: forward the chunk as it came.
    if (held === chunk && dropped.length === 0 && upTo - base === chunk.length) {
      this.#heldStart = upTo;
      return chunk;
    }
    const pieces: Buffer[] = [];
    let at = base;
    while (dropped.length > 0 && (dropped[0] as [number, number])[1] <= upTo) {
      const [start, end] = dropped.shift() as [number, number];
      if (start > at) pieces.push(held.subarray(at - base, start - base));
      at = end;
    }
    if (upTo > at) pieces.push(held.subarray(at - base, upTo - base));
    this.#held = upTo - base < held.length ? Buffer.from(held.subarray(upTo - base)) : EMPTY;
    this.#heldStart = upTo;
    if (pieces.length === 0) return null;
    return pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces);
  }

  /** At the end of a filtered stream: an incomplete tail that was held back goes out unchanged. */
  flush(): Buffer | null {
    if (this.#held.length === 0) return null;
    const rest = this.#held;
    this.#held = EMPTY;
    return rest;
  }

  #onEvent(data: string): boolean {
    const facts = classifyEvent(data);
    if (facts.kind === 'done') {
      this.#done = true;
      return false;
    }
    if (facts.kind === 'content') {
      const now = performance.now();
      if (this.#firstContentMs < 0) this.#firstContentMs = now;
      this.#lastContentMs = now;
      this.#contentEvents++;
    }
    if (facts.error) this.#inbandError = true;
    if (facts.usage !== null) this.#usage = facts.usage;
    return facts.usageOnly && this.#stripUsageChunk;
  }

  result(ending: Ending): CompletionResult {
    if (this.#json !== null && ending === 'end') this.#readJsonUsage();
    const streamed = this.#mode === 'sse';
    const usage = this.#usage;
    const estimated = streamed && usage === null;
    const completionTokens = usage !== null ? usage.completionTokens : estimated ? this.#contentEvents : null;
    let tpotMs: number | null = null;
    if (streamed && completionTokens !== null && completionTokens >= 2 && this.#lastContentMs > this.#firstContentMs) {
      tpotMs = (this.#lastContentMs - this.#firstContentMs) / (completionTokens - 1);
    }
    return {
      outcome: this.#outcome(ending),
      promptTokens: usage?.promptTokens ?? null,
      completionTokens,
      usageEstimated: estimated,
      ttftMs: this.#firstContentMs < 0 ? null : this.#firstContentMs - this.#startMs,
      tpotMs,
    };
  }

  #outcome(ending: Ending): Outcome {
    if (ending !== 'end') return ending;
    if (this.#inbandError) return 'inband_error';
    // A stream that ended cleanly but without [DONE] was cut short by the backend.
    if (this.#mode === 'sse' && !this.#done) return 'upstream_error';
    return 'completed';
  }

  #readJsonUsage(): void {
    const chunks = this.#json as Buffer[];
    this.#json = null;
    try {
      const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      this.#usage = usageFrom(parsed);
      if (typeof parsed === 'object' && parsed !== null && 'error' in parsed && (parsed as { error: unknown }).error)
        this.#inbandError = true;
    } catch {
      // Not JSON after all: no usage to read.
    }
  }
}
