import { DEFAULT_DASHBOARD_SAMPLE_MS } from '../config/defaults.js';
import { parsePromText } from '../metrics/prom-text.js';
import { type DashboardHistory, type DashboardPoint, DashboardSeries, HISTORY_MS, readDashboard } from './dashboard-series.js';
import { HistoryRing } from './history-ring.js';

/**
 * The dashboard's whole time axis at the default interval (90 points): what a page shows the moment it
 * opens. The interval is a hidden flag (--dashboard-sample-interval), so that tests build history up in a
 * second instead of minutes; an operator has no reason to change it.
 */
export const HISTORY_POINTS = HISTORY_MS / DEFAULT_DASHBOARD_SAMPLE_MS;

export interface DashboardHistoryRecorder {
  /** Samples now and then every interval (the timer does not keep the process alive). */
  start(): void;
  /** The body of GET /dashboard/history. */
  json(): string;
  close(): void;
}

/**
 * The primary's memory of the dashboard's series: it samples the merged /metrics (`read`, which never
 * rejects; null when the merge failed) and keeps the last HISTORY_POINTS points in a fixed ring, and the
 * readings of one quantile window (QUANTILE_WINDOW_MS over the interval, plus one).
 */
export function createDashboardHistory(read: () => Promise<string | null>, intervalMs: number, now = Date.now): DashboardHistoryRecorder {
  const series = new DashboardSeries();
  const ring = new HistoryRing<DashboardPoint>(HISTORY_POINTS);
  let timer: NodeJS.Timeout | null = null;
  let sampling = false;
  const sample = async (): Promise<void> => {
    // A merge can wait up to the worker timeout; never stack samples behind a slow one.
    if (sampling) return;
    sampling = true;
    try {
      const text = await read();
      if (text !== null) ring.push(series.add(readDashboard(parsePromText(text), now())));
    } finally {
      sampling = false;
    }
  };
  return {
    start() {
      if (timer !== null) return;
      void sample();
      timer = setInterval(() => void sample(), intervalMs);
      timer.unref();
    },
    json() {
      const history: DashboardHistory = { now: now(), points: ring.toArray(), readings: series.readings() };
      return JSON.stringify(history);
    },
    close() {
      if (timer !== null) clearInterval(timer);
      timer = null;
    },
  };
}
