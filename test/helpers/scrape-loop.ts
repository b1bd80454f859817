import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { parsePromText, sumSamples } from '../../src/metrics/prom-text.js';
import { eventually } from '../../support/wait.js';
import { call } from './http.js';

const SCRAPE_TIMEOUT_MS = 10_000;

export interface Totals {
  atMs: number;
  input: number;
  output: number;
}

export interface ScrapeLoop {
  /** Resolves once `count` more scrapes have succeeded than when it was called (bounded). */
  further(count: number): Promise<void>;
  stop(): Promise<{ totals: Totals[]; failed: string[] }>;
}

/** Scrapes `metricsUrl` every `everyMs` until stopped; failed scrapes are counted, not fatal. */
export function scrapeLoop(metricsUrl: string, everyMs: number): ScrapeLoop {
  const totals: Totals[] = [];
  const failed: string[] = [];
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      const res = await call(metricsUrl, { timeoutMs: SCRAPE_TIMEOUT_MS });
      if (res.status === 200 && res.error === null) {
        const metrics = parsePromText(res.text);
        totals.push({
          atMs: Date.now(),
          input: sumSamples(metrics, 'input_requests_total'),
          output: sumSamples(metrics, 'output_requests_total'),
        });
      } else {
        failed.push(`status ${res.status} ${res.error ?? ''}`);
      }
      // A sampling period, not a wait for an event: the loop records what the totals were over time.
      if (!stopped) await delay(everyMs);
    }
  })();
  return {
    further: async (count) => {
      const target = totals.length + count;
      await eventually(
        `${count} further scrapes`,
        () => totals.length,
        (n) => n >= target,
        { timeoutMs: count * (everyMs + SCRAPE_TIMEOUT_MS) },
      );
    },
    stop: async () => {
      stopped = true;
      await done;
      return { totals, failed };
    },
  };
}

/** Counter totals never go down from one scrape to the next. */
export function assertMonotonic(totals: Totals[]): void {
  for (let i = 1; i < totals.length; i++) {
    const prev = totals[i - 1] as Totals;
    const cur = totals[i] as Totals;
    assert.ok(cur.input >= prev.input, `input_requests_total dropped at scrape ${i}: ${prev.input} -> ${cur.input}`);
    assert.ok(cur.output >= prev.output, `output_requests_total dropped at scrape ${i}: ${prev.output} -> ${cur.output}`);
  }
}
