import { LatencyHistogram } from './latency-histogram.js';

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
  ttft: LatencyHistogram;
  /** Time between two consecutive content events of one stream, received inside the window. */
  gaps: LatencyHistogram;
  /** A few distinct error messages, for the report. */
  errorSamples: string[];
}

export function emptyStreamLoadStats(): StreamLoadStats {
  return {
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
    ttft: new LatencyHistogram(),
    gaps: new LatencyHistogram(),
    errorSamples: [],
  };
}
