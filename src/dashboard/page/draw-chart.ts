import { type ChartLine, formatValue } from './chart-lines.js';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
/** Until there is more history, the time axis spans what there is, but at least a minute. */
const MIN_SPAN_MS = 60_000;
const MARGIN = { left: 52, right: 8, top: 8, bottom: 20 } as const;
const GRID_LINES = 4;

export function colorOf(index: number): string {
  return COLORS[index % COLORS.length] as string;
}

/** Draws `lines` (in the order given, colours by position) over the last `maxSpanMs` before `nowMs`. */
export function drawChart(canvas: HTMLCanvasElement, lines: readonly ChartLine[], nowMs: number, maxSpanMs: number): void {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  const ctx = canvas.getContext('2d');
  if (ctx === null) return;
  ctx.scale(ratio, ratio);
  ctx.clearRect(0, 0, width, height);
  let oldest = nowMs;
  let max = 0;
  for (const line of lines) {
    for (const [t, value] of line.points) {
      oldest = Math.min(oldest, t);
      max = Math.max(max, value);
    }
  }
  const span = Math.min(maxSpanMs, Math.max(MIN_SPAN_MS, nowMs - oldest));
  const top = max > 0 ? max * 1.1 : 1;
  const plotWidth = width - MARGIN.left - MARGIN.right;
  const plotHeight = height - MARGIN.top - MARGIN.bottom;
  const x = (t: number): number => MARGIN.left + plotWidth * ((t - (nowMs - span)) / span);
  const y = (value: number): number => MARGIN.top + plotHeight * (1 - value / top);
  drawAxes(ctx, width, height, top, span);
  lines.forEach((line, i) => {
    ctx.strokeStyle = colorOf(i);
    ctx.lineWidth = 2;
    ctx.beginPath();
    for (const [t, value] of line.points) ctx.lineTo(x(t), y(value));
    // A lone point has no segment to stroke: mark it with a dot.
    const only = line.points.length === 1 ? line.points[0] : undefined;
    if (only !== undefined) ctx.arc(x(only[0]), y(only[1]), 2, 0, 2 * Math.PI);
    ctx.stroke();
  });
}

function drawAxes(ctx: CanvasRenderingContext2D, width: number, height: number, top: number, span: number): void {
  ctx.strokeStyle = '#e5e5e5';
  ctx.fillStyle = '#777';
  ctx.lineWidth = 1;
  ctx.font = '11px system-ui, sans-serif';
  for (let g = 0; g <= GRID_LINES; g++) {
    const y = MARGIN.top + (height - MARGIN.top - MARGIN.bottom) * (1 - g / GRID_LINES);
    ctx.beginPath();
    ctx.moveTo(MARGIN.left, y);
    ctx.lineTo(width - MARGIN.right, y);
    ctx.stroke();
    ctx.fillText(formatValue((top * g) / GRID_LINES, ''), 4, y + 4);
  }
  ctx.fillText(`-${Math.round(span / 60_000)} min`, MARGIN.left, height - 4);
  ctx.fillText('now', width - MARGIN.right - 22, height - 4);
}
