/**
 * One row per backend, for an operator watching failover (issue 11 point 6): the table of /dashboard and
 * the one of `proxy_ctl.sh status` are both computed here, from the dashboard's points (the primary's
 * history, then the reader's own scrapes) and the backends' states from /healthz. Pure and Node-free:
 * the page inlines this module as built.
 */
import type { DashboardPoint, EngineGauges } from './dashboard-series.js';

/**
 * The url label of the requests the proxy answered before choosing a backend (401, 404 model_not_found,
 * 413, 503 shed, GET /v1/models). NO_BACKEND_URL in src/metrics/request-recorder.ts, which the page cannot
 * import (it needs prom-client).
 */
export const UNROUTED_URL = 'none';
/** How the proxy's own answers are shown: `none` alone reads like a backend of that name. */
export const UNROUTED_NAME = 'proxy (no backend)';
/** Share, rate and retries cover the last minute: the "share of the last minute's requests". */
export const TABLE_WINDOW_MS = 60_000;

/**
 * What the table needs of a backend in /healthz (its `backends` entries fit): up, down (its health checks
 * fail), ejected (live traffic's failures), held (its own Retry-After). Only /healthz tells these four
 * apart: backend_up is 0 for both down and ejected, and 1 while held.
 */
export interface BackendState {
  readonly url: string;
  readonly state: string;
}

export interface BackendRow {
  /** The url label: a configured or resolved backend, or UNROUTED_URL. */
  readonly url: string;
  /** From /healthz; `removed`: out of the fleet, its series not yet gone; `-` for the proxy's own answers; `?` before /healthz answered. */
  readonly state: string;
  /** in_flight_requests at the newest point: requests on it now, over all workers. */
  readonly inFlight: number | null;
  /** Responses in the window: a request that failed over counts where it was answered (output_requests_total). */
  readonly answered: number;
  readonly perSecond: number | null;
  /** Of every response in the window, the proxy's own included, so that the rows add up to 1; null before any. */
  readonly share: number | null;
  /** At the newest point: over the requests that ended within the last QUANTILE_WINDOW_MS. */
  readonly ttftP50S: number | null;
  /** Requests sent again elsewhere because this backend failed, by reason, in the window. */
  readonly retries: Readonly<Record<string, number>>;
  /** Its engine's gauges at the newest point; null without a fresh reading. */
  readonly engine: EngineGauges | null;
  /** The proxy's own row: requests waiting in its queue at the newest point, by class; null otherwise. */
  readonly queue: Readonly<Record<string, number>> | null;
}

/**
 * The rows, by url with the proxy's own answers last: every backend /healthz lists, and every url the
 * window's points hold. The window is the points that end within `windowMs` of the newest one (with 10 s
 * history points, up to one interval more), measured on the points' own clock.
 */
export function backendRows(
  points: readonly DashboardPoint[],
  states: readonly BackendState[] | null,
  windowMs = TABLE_WINDOW_MS,
): BackendRow[] {
  const newest = points.at(-1);
  const inWindow = newest === undefined ? [] : points.filter((point) => point.t > newest.t - windowMs);
  const urls = new Set(states?.map((backend) => backend.url));
  for (const point of inWindow) for (const url of Object.keys(point.backends)) urls.add(url);
  const seconds = inWindow.reduce((sum, point) => sum + point.seconds, 0);
  const answered = new Map<string, number>();
  const retries = new Map<string, Record<string, number>>();
  for (const url of urls) {
    let count = 0;
    const reasons: Record<string, number> = {};
    for (const point of inWindow) {
      const backend = point.backends[url];
      count += backend?.requestsOut ?? 0;
      for (const [reason, n] of Object.entries(backend?.retries ?? {})) reasons[reason] = (reasons[reason] ?? 0) + n;
    }
    answered.set(url, count);
    retries.set(url, reasons);
  }
  const total = [...answered.values()].reduce((sum, n) => sum + n, 0);
  return [...urls].sort(compareUrls).map((url): BackendRow => {
    const count = answered.get(url) ?? 0;
    const now = newest?.backends[url];
    return {
      url,
      state: stateOf(url, states),
      inFlight: now?.inFlight ?? null,
      answered: count,
      perSecond: seconds > 0 ? count / seconds : null,
      share: total > 0 ? count / total : null,
      ttftP50S: now?.ttftP50S ?? null,
      retries: retries.get(url) ?? {},
      engine: now?.engine ?? null,
      queue: now?.queue ?? null,
    };
  });
}

function stateOf(url: string, states: readonly BackendState[] | null): string {
  if (url === UNROUTED_URL) return '-';
  if (states === null) return '?';
  return states.find((backend) => backend.url === url)?.state ?? 'removed';
}

/** `2 up, 1 down`, states in the order they first appear; `none` for an empty fleet. */
export function stateSummary(states: readonly BackendState[]): string {
  const counts = new Map<string, number>();
  for (const { state } of states) counts.set(state, (counts.get(state) ?? 0) + 1);
  return [...counts].map(([state, n]) => `${n} ${state}`).join(', ') || 'none';
}

/** By url, the proxy's own answers last (after every backend, whatever its host name). */
export function compareUrls(a: string, b: string): number {
  if (a === b) return 0;
  if (a === UNROUTED_URL || b === UNROUTED_URL) return a === UNROUTED_URL ? 1 : -1;
  return a < b ? -1 : 1;
}

/** A row's name in a table: the url label as Prometheus has it, or what `none` stands for. */
export function rowName(url: string): string {
  return url === UNROUTED_URL ? UNROUTED_NAME : url;
}

/** A backend's name in a chart legend, where space is short: host and port. */
export function shortName(url: string): string {
  return url === UNROUTED_URL ? UNROUTED_NAME : url.replace(/^https?:\/\//, '');
}

export function formatShare(share: number | null): string {
  return share === null ? '-' : `${Math.round(share * 100)}%`;
}

export function formatSeconds(seconds: number | null): string {
  return seconds === null ? '-' : `${seconds.toFixed(3)} s`;
}

/**
 * The engine column: `3 waiting, 8 running, KV 45%` (and `saturated`) for a backend whose engine the proxy
 * reads; `12 queued (2 interactive, 10 batch)` for the proxy's own row; `-` otherwise.
 */
export function formatEngine(row: Pick<BackendRow, 'engine' | 'queue'>): string {
  if (row.queue !== null) {
    const total = Object.values(row.queue).reduce((sum, n) => sum + n, 0);
    const parts = Object.entries(row.queue)
      .filter(([, n]) => n > 0)
      .map(([priority, n]) => `${n} ${priority}`);
    return parts.length === 0 ? '0 queued' : `${total} queued (${parts.join(', ')})`;
  }
  const engine = row.engine;
  if (engine === null) return '-';
  const kv = engine.kvUsage === null ? '' : `, KV ${Math.round(engine.kvUsage * 100)}%`;
  return `${engine.waiting} waiting, ${engine.running} running${kv}${engine.saturated ? ', saturated' : ''}`;
}

/** `503: 2, connect: 1`, most first; `-` when there were none. */
export function formatRetries(retries: Readonly<Record<string, number>>): string {
  const seen = Object.entries(retries).filter(([, n]) => n > 0);
  if (seen.length === 0) return '-';
  seen.sort(([a, m], [b, n]) => n - m || (a < b ? -1 : 1));
  return seen.map(([reason, n]) => `${reason}: ${n}`).join(', ');
}
