/**
 * The script of GET /dashboard, run by the browser. It draws the primary's history at once, then polls
 * /metrics every 2 s and computes each new point with the same series code as the primary. The backends
 * table takes its figures from the same points, and each backend's state from /healthz, read at the same
 * times: only /healthz tells down, ejected and held apart.
 */
import { type PromSamples, parsePromText, sumSamples } from '../../metrics/prom-text.js';
import { type BackendState, backendRows, stateSummary } from '../backend-table.js';
import { type DashboardHistory, DashboardSeries, HISTORY_MS, readDashboard } from '../dashboard-series.js';
import { readTenants, TENANT_WINDOW_MS, type TenantsReading, tenantRows } from '../tenant-table.js';
import { CHARTS, type ChartSpec, legendText, linesOf, type ShownPoint } from './chart-lines.js';
import { drawBackends } from './draw-backends.js';
import { colorOf, drawChart } from './draw-chart.js';
import { drawTenants } from './draw-tenants.js';

const POLL_MS = 2_000;

type CountsByChart = Record<string, number>;

/** What the page has drawn: for a look from the devtools console, and for the browser test. */
interface DashboardState {
  polls: number;
  errors: number;
  /** Points drawn per chart (all its lines), and how many of them came from the primary's history. */
  points: CountsByChart;
  historyPoints: CountsByChart;
  /** The backends table's cells, as last drawn. */
  table: string[][];
  /** The tenants table's cells, as last drawn. */
  tenants: string[][];
  /** The same at the first draw, which comes before the page's first poll of /metrics. */
  firstDraw: { polls: number; points: CountsByChart; historyPoints: CountsByChart; table: string[][] } | null;
}

declare global {
  interface Window {
    __dashboard: DashboardState;
  }
}

interface Panel {
  readonly chart: ChartSpec;
  readonly canvas: HTMLCanvasElement;
  readonly legend: HTMLElement;
}

function startDashboard(): void {
  const grid = document.getElementById('grid') as HTMLElement;
  const statusLine = document.getElementById('status') as HTMLElement;
  const table = document.getElementById('backends') as HTMLTableElement;
  const tenantsTable = document.getElementById('tenants') as HTMLTableElement;
  let tenantReadings: TenantsReading[] = [];
  const panels = CHARTS.map((chart) => createPanel(grid, chart));
  const series = new DashboardSeries();
  let shown: ShownPoint[] = [];
  let states: readonly BackendState[] | null = null;
  const state: DashboardState = { polls: 0, errors: 0, points: {}, historyPoints: {}, table: [], tenants: [], firstDraw: null };
  window.__dashboard = state;

  const redraw = (): void => {
    const nowMs = Date.now();
    shown = shown.filter(({ point }) => point.t >= nowMs - HISTORY_MS);
    const points = shown.map(({ point }) => point);
    state.table = drawBackends(table, backendRows(points, states));
    for (const panel of panels) drawPanel(panel, shown, nowMs, state);
  };
  const showError = (what: string, err: unknown): void => {
    state.errors++;
    statusLine.className = 'error';
    statusLine.textContent = `cannot read ${what}: ${err instanceof Error ? err.message : String(err)}`;
  };
  const poll = async (): Promise<void> => {
    const [metrics, health] = await Promise.allSettled([fetchOk('metrics').then((res) => res.text()), readStates()]);
    if (health.status === 'fulfilled') states = health.value ?? states;
    if (metrics.status === 'fulfilled') {
      const t = Date.now();
      const samples = parsePromText(metrics.value);
      shown.push({ point: series.add(readDashboard(samples, t)), fromHistory: false });
      tenantReadings = [...tenantReadings.filter((reading) => reading.t >= t - TENANT_WINDOW_MS - POLL_MS), readTenants(samples, t)];
      state.tenants = drawTenants(tenantsTable, tenantRows(tenantReadings));
      state.polls++;
      statusLine.className = '';
      statusLine.textContent = statusText(samples, states, t);
    }
    if (metrics.status === 'rejected') showError('/metrics', metrics.reason);
    else if (health.status === 'rejected') showError('/healthz', health.reason);
    redraw();
    setTimeout(() => void poll(), POLL_MS);
  };

  window.addEventListener('resize', redraw);
  void Promise.allSettled([loadHistory(series), readStates()]).then(([history, health]) => {
    if (history.status === 'fulfilled') shown = history.value;
    else showError('/dashboard/history', history.reason);
    if (health.status === 'fulfilled') states = health.value;
    else showError('/healthz', health.reason);
    redraw();
    state.firstDraw = { polls: state.polls, points: { ...state.points }, historyPoints: { ...state.historyPoints }, table: state.table };
    return poll();
  });
}

/**
 * The primary's points, moved onto this browser's clock; its readings become the base of the first
 * poll's rates and quantile window.
 */
async function loadHistory(series: DashboardSeries): Promise<ShownPoint[]> {
  const history = (await (await fetchOk('dashboard/history')).json()) as DashboardHistory;
  const offset = Date.now() - history.now;
  for (const reading of history.readings) series.resume({ ...reading, t: reading.t + offset });
  return history.points.map((point) => ({ point: { ...point, t: point.t + offset }, fromHistory: true }));
}

/** Each backend's state; null when the answer lists none (a worker that is draining says only that). */
async function readStates(): Promise<BackendState[] | null> {
  const res = await fetch('healthz', { cache: 'no-store' });
  // 503 when no backend is up: the body still lists them all, and that is when the table matters most.
  if (res.status !== 200 && res.status !== 503) throw new Error(`HTTP ${res.status}`);
  return ((await res.json()) as { backends?: BackendState[] }).backends ?? null;
}

async function fetchOk(path: string): Promise<Response> {
  const res = await fetch(path, { cache: 'no-store' });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return res;
}

function createPanel(grid: HTMLElement, chart: ChartSpec): Panel {
  const panel = document.createElement('div');
  panel.className = 'panel';
  const title = document.createElement('h2');
  title.textContent = chart.title;
  const canvas = document.createElement('canvas');
  canvas.id = `chart-${chart.id}`;
  const legend = document.createElement('div');
  legend.className = 'legend';
  legend.id = `legend-${chart.id}`;
  panel.append(title, canvas, legend);
  grid.append(panel);
  return { chart, canvas, legend };
}

function drawPanel(panel: Panel, shown: readonly ShownPoint[], nowMs: number, state: DashboardState): void {
  const lines = linesOf(panel.chart, shown);
  drawChart(panel.canvas, lines, nowMs, HISTORY_MS);
  const entries = lines.map((line, i) => {
    const swatch = document.createElement('i');
    swatch.style.background = colorOf(i);
    const entry = document.createElement('span');
    entry.append(swatch, legendText(panel.chart, line));
    return entry;
  });
  if (entries.length === 0) {
    const empty = document.createElement('span');
    empty.textContent = 'no data yet';
    entries.push(empty);
  }
  panel.legend.replaceChildren(...entries);
  const points = lines.reduce((n, line) => n + line.points.length, 0);
  const fromHistory = lines.reduce((n, line) => n + line.fromHistory, 0);
  panel.canvas.dataset.points = String(points);
  panel.canvas.dataset.historyPoints = String(fromHistory);
  state.points[panel.chart.id] = points;
  state.historyPoints[panel.chart.id] = fromHistory;
}

/** `workers alive: 2 · backends: 2 up, 1 down · updated 12:00:00` */
function statusText(samples: PromSamples, states: readonly BackendState[] | null, t: number): string {
  const alive = sumSamples(samples, 'workers_alive');
  const backends = states === null ? '?' : stateSummary(states);
  return `workers alive: ${alive} \u00b7 backends: ${backends} \u00b7 updated ${new Date(t).toLocaleTimeString()}`;
}

startDashboard();
