/**
 * The `overhead` workload: the latency a proxy adds to a small request, measured two ways (bench/README.md,
 * "overhead"). Every number that defines it is here, with its unit.
 */

/** The open-loop rates of the tables, requests per second (`--rates` replaces them). */
export const DEFAULT_RATES: readonly number[] = [500, 2000, 5000];
/** Measured sequential rounds per run (`--rounds`); each round is one direct and one proxied request. */
export const DEFAULT_ROUNDS = 3000;
/** Uncounted rounds before them: connections open, code warm. */
export function sequentialWarmupRounds(rounds: number): number {
  return Math.max(100, Math.round(rounds / 10));
}
/** A sequential run stops here whatever its rounds (a slow target must not hold the shared machine). */
export const SEQUENTIAL_MAX_S = 30;

/** A target "holds" a rate while its p99 stays less than this above direct's at the same rate. */
export const ADDED_P99_LIMIT_MS = 10;
/** Below this share of the asked rate in responses, a run is saturated (its latency figures mean little). */
export const SATURATED_SHARE = 0.95;

/**
 * Connections the open-loop client opens at first, used in turn (FIFO), so that a cluster target's workers all
 * get some (node:cluster hands connections out round-robin) and no connection carries the load alone.
 */
export const OPEN_LOOP_CONNECTIONS = 64;
/** It opens more when all are busy, up to this; past it requests wait for a connection (counted). */
export const OPEN_LOOP_MAX_CONNECTIONS = 1024;
/** Requests waiting for a connection beyond this many seconds of the rate are not sent but counted as skipped. */
export const OPEN_LOOP_MAX_BACKLOG_S = 1;
/** After the window, outstanding requests get this long before they are counted unfinished and cut. */
export const OPEN_LOOP_DRAIN_MS = 2_000;
/** A client whose sends are later than this at p99 is flagged: its schedule, not the target, may shape the tail. */
export const CLIENT_LATE_MS = 2;

/** The search for the highest rate held: between these rates, until the bracket is this narrow. */
export const SEARCH_MIN_RATE = 100;
export const SEARCH_MAX_RATE = 10_000;
export const SEARCH_PRECISION = 1.2;
/** Probes per target (`--search-probes`; 0 = the fixed rates only). */
export const DEFAULT_SEARCH_PROBES = 4;
/** Error messages a run keeps for the report (the first ones). */
export const ERROR_SAMPLES = 3;
/** A probe of the search: a short window after a short warm-up (the fixed rates have the full ones). */
export const SEARCH_WARMUP_MS = 1_000;
export const SEARCH_PROBE_S = 3;
