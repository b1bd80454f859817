import { DEFAULT_DASHBOARD_SAMPLE_MS } from '../config/defaults.js';
import { parsePromText } from '../metrics/prom-text.js';
import {
  type DashboardHistory,
  type DashboardPoint,
  DashboardSeries,
  HISTORY_MS,
  type Reading,
  readDashboard,
} from './dashboard-series.js';
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

/** The dashboard's families of the merged /metrics, and a stamp that changes whenever one of them does. */
export interface DashboardSample {
  readonly text: string;
  readonly stamp: string;
}

/**
 * The primary's memory of the dashboard's series: it samples the DASHBOARD_FAMILIES of the merged /metrics
 * (`read`, which never rejects; null when the merge failed) and keeps the last HISTORY_POINTS points in a
 * fixed ring, and the readings of one quantile window (QUANTILE_WINDOW_MS over the interval, plus one).
 * While the stamp stays the same nothing is parsed again: the last reading stands, at the new time.
 */
export function createDashboardHistory(
  read: () => Promise<DashboardSample | null>,
  intervalMs: number,
  now = Date.now,
): DashboardHistoryRecorder {
  const series = new DashboardSeries();
  const ring = new HistoryRing<DashboardPoint>(HISTORY_POINTS);
  let timer: NodeJS.Timeout | null = null;
  let sampling = false;
  let last: { stamp: string; reading: Reading } | null = null;
  const sample = async (): Promise<void> => {
    // A merge can wait up to the worker timeout; never stack samples behind a slow one.
    if (sampling) return;
    sampling = true;
    try {
      const answer = await read();
      if (answer === null) return;
      const t = now();
      const reading =
        last !== null && last.stamp === answer.stamp
          ? { t, backends: last.reading.backends }
          : readDashboard(parsePromText(answer.text), t);
      last = { stamp: answer.stamp, reading };
      ring.push(series.add(reading));
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
