import { compareUrls, shortName } from '../backend-table.js';
import { type BackendPoint, type DashboardPoint, STATUS_CLASSES } from '../dashboard-series.js';

export interface ChartSpec {
  readonly id: string;
  readonly title: string;
  readonly unit: string;
  /** Values are counts over the point's interval, drawn per second; otherwise drawn as they are. */
  readonly perSecond: boolean;
  /** 'last': the legend shows the latest value. 'count': how many in view, for rare events a rate hides. */
  readonly legend: 'last' | 'count';
  /** This chart's lines for one backend, by name; null where the point has no value. */
  values(backend: BackendPoint): Readonly<Record<string, number | null>>;
  /** The order of the values within a backend, where it is not by name. */
  readonly order?: readonly string[];
}

export const CHARTS: readonly ChartSpec[] = [
  {
    id: 'qps',
    title: 'Requests per second by backend (in / out)',
    unit: 'req/s',
    perSecond: true,
    legend: 'last',
    values: (b) => ({ in: b.requestsIn, out: b.requestsOut }),
  },
  { id: 'inflight', title: 'In-flight requests', unit: '', perSecond: false, legend: 'last', values: (b) => ({ 'in flight': b.inFlight }) },
  {
    id: 'queue',
    title: "Waiting requests: in the proxy's queue by class (proxy row), in each engine's own queue",
    unit: '',
    perSecond: false,
    legend: 'last',
    values: (b): Readonly<Record<string, number | null>> => b.queue ?? (b.engine === undefined ? {} : { 'engine queue': b.engine.waiting }),
    order: ['interactive', 'standard', 'batch'],
  },
  {
    id: 'engine',
    title: "Requests each engine runs, by its own count (other clients' included)",
    unit: '',
    perSecond: false,
    legend: 'last',
    values: (b): Readonly<Record<string, number | null>> => (b.engine === undefined ? {} : { running: b.engine.running }),
  },
  {
    id: 'ttft',
    title: 'Time to first token p50 / p99 (last 30 s)',
    unit: 's',
    perSecond: false,
    legend: 'last',
    values: (b) => ({ p50: b.ttftP50S, p99: b.ttftP99S }),
  },
  {
    id: 'overhead',
    title: "The proxy's own time per request p50 / p99 (last 30 s)",
    unit: 's',
    perSecond: false,
    legend: 'last',
    values: (b) => ({ p50: b.overheadP50S, p99: b.overheadP99S }),
  },
  {
    id: 'throughput',
    title: 'Decoding throughput p50 / p99 (last 30 s)',
    unit: 'tok/s',
    perSecond: false,
    legend: 'last',
    values: (b) => ({ p50: b.throughputP50, p99: b.throughputP99 }),
  },
  {
    id: 'tokens',
    title: 'Tokens per second (prompt / completion)',
    unit: 'tok/s',
    perSecond: true,
    legend: 'last',
    values: (b) => ({ prompt: b.promptTokens, completion: b.completionTokens }),
  },
  {
    id: 'errors',
    title: 'Error responses per second, by status (503 shed: over --max-in-flight); legend: how many in view',
    unit: '/s',
    perSecond: true,
    legend: 'count',
    values: (b) => b.statuses,
    order: STATUS_CLASSES,
  },
  {
    id: 'outcomes',
    title: 'Completions that did not complete, per second, by outcome; legend: how many in view',
    unit: '/s',
    perSecond: true,
    legend: 'count',
    values: (b) => b.outcomes,
  },
  {
    id: 'retries',
    title: 'Retries per second, by the backend that failed and why; legend: how many in view',
    unit: '/s',
    perSecond: true,
    legend: 'count',
    values: (b) => b.retries,
  },
];

/** A point on the page, marked when it came from the primary's history rather than the page's own polls. */
export interface ShownPoint {
  readonly point: DashboardPoint;
  readonly fromHistory: boolean;
}

export interface ChartLine {
  /** `<host:port> <value>` */
  readonly name: string;
  readonly url: string;
  readonly value: string;
  readonly points: Array<readonly [t: number, value: number]>;
  /** The values summed: for a perSecond chart, how many events the line stands for. */
  total: number;
  fromHistory: number;
}

/** The chart's lines, one per backend and value, by backend (the proxy's own answers last) and then in the chart's order. */
export function linesOf(chart: ChartSpec, shown: readonly ShownPoint[]): ChartLine[] {
  const lines = new Map<string, ChartLine>();
  for (const { point, fromHistory } of shown) {
    // A first reading has no interval: nothing to divide by.
    if (chart.perSecond && point.seconds <= 0) continue;
    for (const [url, backend] of Object.entries(point.backends)) {
      for (const [name, value] of Object.entries(chart.values(backend))) {
        if (value === null) continue;
        const key = `${shortName(url)} ${name}`;
        let line = lines.get(key);
        if (line === undefined) {
          line = { name: key, url, value: name, points: [], total: 0, fromHistory: 0 };
          lines.set(key, line);
        }
        line.points.push([point.t, chart.perSecond ? value / point.seconds : value]);
        line.total += value;
        if (fromHistory) line.fromHistory++;
      }
    }
  }
  const rank = (line: ChartLine): number => chart.order?.indexOf(line.value) ?? -1;
  return [...lines.values()].sort((a, b) => compareUrls(a.url, b.url) || rank(a) - rank(b) || compare(a.value, b.value));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** What the legend says about a line. */
export function legendText(chart: ChartSpec, line: ChartLine): string {
  if (chart.legend === 'count') return `${line.name}: ${line.total}`;
  const last = line.points.at(-1);
  return last === undefined ? line.name : `${line.name}: ${formatValue(last[1], chart.unit)}`;
}

export function formatValue(value: number, unit: string): string {
  const abs = Math.abs(value);
  const text =
    value === 0
      ? '0'
      : abs >= 1000
        ? `${(value / 1000).toFixed(1)}k`
        : abs >= 10
          ? value.toFixed(0)
          : abs >= 1
            ? value.toFixed(1)
            : value.toFixed(3);
  return unit === '' ? text : `${text} ${unit}`;
}
