import type { BenchArgs } from '../bench-args.js';
import { SCRAPES, type ScrapeReport, type ScrapeTiming } from '../measurement/measure-scrapes.js';
import type { Summary } from './http-report.js';
import { fmt, markdownTable } from './markdown.js';

const HEADER = [
  'condition',
  'scrapes',
  'HTTP status',
  'scrape p50 ms',
  'scrape max ms',
  'body KB',
  'proxy CPU',
  'chat req/s',
  'proxy CPU µs per chat req',
];

/** The cells from `scrapes` to `body KB` of the row without scrapes. */
const NO_TIMING = ['–', '–', '–', '–', '–'];

const f = (v: number | null | undefined, digits = 0): string => fmt(v ?? null, digits);

/** A row's condition and its cells from `scrapes` to `body KB`. */
function timing(condition: string, t: ScrapeTiming): string[] {
  return [condition, String(t.scrapes), t.statuses.join(', '), f(t.p50Ms, 1), f(t.maxMs, 1), f(t.bytes / 1024, 1)];
}

/** The /metrics timing table, with the same proxy's chat figures without scrapes for comparison. */
export function renderScrapes(report: ScrapeReport, args: BenchArgs, withoutScrapes: Summary | undefined): string {
  const { idle, busy } = report;
  const perScrape = idle.proxyCpuMs === null ? null : idle.proxyCpuMs / idle.scrapes;
  return [
    `### /metrics scrape timing (${report.target}, both workers busy)`,
    '',
    `${SCRAPES} scrapes of \`GET /metrics\` by curl (its own process, a new connection each; time = curl's time_total), first back to back with the proxy idle, then spread over ${args.duration} s while the chat workload (${args.connections} connections) runs against ${report.target}. Every scrape makes the worker that gets it ask the primary, which collects every worker's registry and merges them. Proxy CPU = process tree (primary + workers) over the scrape window.`,
    '',
    markdownTable(HEADER, [
      [...timing('idle', idle), `${f(perScrape, 1)} ms per scrape`, '–', '–'],
      [...timing('chat load', busy), `${f(busy.proxyCpuPct)}% of a core`, f(busy.reqPerSec), f(busy.proxyCpuUsPerReq)],
      [
        'chat load, no scrapes (medians of the chat runs above)',
        ...NO_TIMING,
        `${f(withoutScrapes?.proxyCpuPct)}% of a core`,
        f(withoutScrapes?.reqPerSec),
        f(withoutScrapes?.proxyCpuUsPerReq),
      ],
    ]),
  ].join('\n');
}
