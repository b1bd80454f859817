/**
 * What the bench and its overhead client process say to each other over IPC. Types are namespaced; the
 * client posts window-start and window-end as they happen, so the bench samples CPU over the same window.
 */
import type { DeltaSummary } from '../measurement/overhead-stats.js';

/** One request, as the client sends it again and again. */
export interface RequestSpec {
  origin: string;
  path: string;
  headers: Record<string, string>;
}

/** Rounds of one direct and one proxied request on one keep-alive connection each, in alternating order. */
export interface SequentialJob {
  kind: 'sequential';
  direct: RequestSpec;
  proxied: RequestSpec;
  warmupRounds: number;
  rounds: number;
  maxMs: number;
}

/** Requests sent at a fixed rate whatever the answers, timed from when each was due. */
export interface OpenLoopJob {
  kind: 'open-loop';
  request: RequestSpec;
  /** Requests per second. */
  rate: number;
  warmupMs: number;
  durationMs: number;
  connections: number;
  maxConnections: number;
  maxBacklog: number;
  drainMs: number;
}

export type OverheadJob = SequentialJob | OpenLoopJob;

/** Quantiles of the per-round deltas and of each arm, ms. */
export interface SequentialOutcome extends DeltaSummary {
  kind: 'sequential';
  rounds: number;
  /** The run reached SEQUENTIAL_MAX_S before its rounds. */
  cut: boolean;
  /** Rounds with a non-2xx answer or an error on either arm; not in the quantiles. */
  failed: number;
  errorSamples: string[];
}

export interface OpenLoopOutcome {
  kind: 'open-loop';
  rate: number;
  /** Requests due inside the window. */
  due: number;
  /** Of those: answered, failed (non-2xx or error), cut after the drain, never sent (backlog full). */
  answered: number;
  failed: number;
  unfinished: number;
  skipped: number;
  /** Responses that arrived inside the window (any due time), per second: the achieved rate. */
  achievedRate: number;
  /** From due time to the response's end, ms. */
  latency: { p50: number | null; p90: number | null; p99: number | null; p999: number | null; max: number | null };
  /** How late the client sent requests against their due time, ms: its own delay, not the target's. */
  lateness: { p50: number | null; p99: number | null; max: number | null };
  /** Requests that found every connection busy, and the p99 of their wait, ms. */
  waitedForConnection: number;
  connectionWaitP99: number | null;
  connectionsOpened: number;
  errorSamples: string[];
}

export type OverheadOutcome = SequentialOutcome | OpenLoopOutcome;

export type BenchToClient = { type: 'overhead:run'; job: OverheadJob };

export type ClientToBench =
  | { type: 'overhead:window-start' }
  | { type: 'overhead:window-end' }
  | { type: 'overhead:result'; outcome: OverheadOutcome }
  | { type: 'overhead:failed'; message: string };
