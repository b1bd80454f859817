import { type BackendRow, formatEngine, formatRetries, formatSeconds, formatShare, rowName } from '../backend-table.js';
import { formatValue } from './chart-lines.js';

const BACKEND_COLUMNS = [
  'backend',
  'state',
  'in flight',
  'answered (last min)',
  'req/s (last min)',
  'share (last min)',
  'p50 TTFT (last 30 s)',
  'retries (last min)',
  'engine (its own gauges) / queue',
] as const;

/** A row's cells as the page shows them, in BACKEND_COLUMNS' order. */
function rowCells(row: BackendRow): string[] {
  return [
    rowName(row.url),
    row.state,
    row.inFlight === null ? '-' : String(row.inFlight),
    String(row.answered),
    row.perSecond === null ? '-' : formatValue(row.perSecond, ''),
    formatShare(row.share),
    formatSeconds(row.ttftP50S),
    formatRetries(row.retries),
    formatEngine(row),
  ];
}

/** Writes the header once, then the rows; returns the cells written. */
export function drawBackends(table: HTMLTableElement, rows: readonly BackendRow[]): string[][] {
  if (table.tHead === null) {
    const head = table.createTHead().insertRow();
    for (const column of BACKEND_COLUMNS) head.append(Object.assign(document.createElement('th'), { textContent: column }));
  }
  const body = table.tBodies[0] ?? table.createTBody();
  const cells = rows.map(rowCells);
  body.replaceChildren(
    ...rows.map((row, i) => {
      const tr = document.createElement('tr');
      tr.dataset.url = row.url;
      for (const text of cells[i] as string[]) tr.insertCell().textContent = text;
      // The state as data, for the style sheet: a backend out of selection stands out.
      (tr.cells[1] as HTMLTableCellElement).dataset.state = row.state;
      return tr;
    }),
  );
  return cells;
}
