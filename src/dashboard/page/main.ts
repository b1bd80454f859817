/**
 * The script of GET /dashboard, run by the browser. It draws the primary's history at once, then polls
 * /metrics every 2 s and computes each new point with the same series code as the primary.
 */
import { type PromSamples, parsePromText, sumSamples } from '../../metrics/prom-text.js';
import { type DashboardHistory, DashboardSeries, HISTORY_MS, readDashboard } from '../dashboard-series.js';
import { CHARTS, type ChartSpec, legendText, linesOf, type ShownPoint } from './chart-lines.js';
import { colorOf, drawChart } from './draw-chart.js';

const POLL_MS = 2_000;

type CountsByChart = Record<string, number>;

/** What the page has drawn: for a look from the devtools console, and for the browser test. */
interface DashboardState {
  polls: number;
  errors: number;
  /** Points drawn per chart (all its lines), and how many of them came from the primary's history. */
  points: CountsByChart;
  historyPoints: CountsByChart;
  /** The same at the first draw, which comes before the page's first poll of /metrics. */
  firstDraw: { polls: number; points: CountsByChart; historyPoints: CountsByChart } | null;
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
  const panels = CHARTS.map((chart) => createPanel(grid, chart));
  const series = new DashboardSeries();
  let shown: ShownPoint[] = [];
  const state: DashboardState = { polls: 0, errors: 0, points: {}, historyPoints: {}, firstDraw: null };
  window.__dashboard = state;

  const redraw = (): void => {
    const nowMs = Date.now();
    shown = shown.filter(({ point }) => point.t >= nowMs - HISTORY_MS);
    for (const panel of panels) drawPanel(panel, shown, nowMs, state);
  };
  const showError = (what: string, err: unknown): void => {
    state.errors++;
    statusLine.className = 'error';
    statusLine.textContent = `cannot read ${what}: ${err instanceof Error ? err.message : String(err)}`;
  };
  const poll = async (): Promise<void> => {
    try {
      const text = await (await fetchOk('metrics')).text();
      const t = Date.now();
      const samples = parsePromText(text);
      const point = series.add(readDashboard(samples, t));
      shown.push({ point, fromHistory: false });
      state.polls++;
      statusLine.className = '';
      statusLine.textContent = statusText(samples, Object.keys(point.backends), t);
    } catch (err) {
      showError('/metrics', err);
    }
    redraw();
    setTimeout(() => void poll(), POLL_MS);
  };

  window.addEventListener('resize', redraw);
  void loadHistory(series)
    .then(
      (points) => {
        shown = points;
      },
      (err: unknown) => showError('/dashboard/history', err),
    )
    .then(() => {
      redraw();
      state.firstDraw = { polls: state.polls, points: { ...state.points }, historyPoints: { ...state.historyPoints } };
      return poll();
    });
}

/** The primary's points, moved onto this browser's clock; its last reading becomes the base of the first poll's rates. */
async function loadHistory(series: DashboardSeries): Promise<ShownPoint[]> {
  const history = (await (await fetchOk('dashboard/history')).json()) as DashboardHistory;
  const offset = Date.now() - history.now;
  if (history.last !== null) series.resume({ ...history.last, t: history.last.t + offset });
  return history.points.map((point) => ({ point: { ...point, t: point.t + offset }, fromHistory: true }));
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

function statusText(samples: PromSamples, backends: readonly string[], t: number): string {
  const alive = sumSamples(samples, 'workers_alive');
  return `workers alive: ${alive} \u00b7 backends: ${backends.join(', ')} \u00b7 updated ${new Date(t).toLocaleTimeString()}`;
}

startDashboard();
