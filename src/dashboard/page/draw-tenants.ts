import { formatRejected, type TenantRow } from '../tenant-table.js';
import { formatValue } from './chart-lines.js';

const TENANT_COLUMNS = ['key', 'requests (last min)', 'tokens/s (last min)', 'rejected (last min)', 'budget left (tokens)'] as const;

function tenantCells(row: TenantRow): string[] {
  return [
    row.key,
    row.requests === null ? '-' : String(row.requests),
    row.tokensPerSecond === null ? '-' : formatValue(row.tokensPerSecond, ''),
    formatRejected(row.rejected),
    row.budgetLeft === null ? '-' : String(row.budgetLeft),
  ];
}

/** Writes the header once, then the rows; the panel hides while no key is configured. Returns the cells. */
export function drawTenants(table: HTMLTableElement, rows: readonly TenantRow[]): string[][] {
  const panel = table.parentElement;
  if (panel !== null) panel.hidden = rows.length === 0;
  if (table.tHead === null) {
    const head = table.createTHead().insertRow();
    for (const column of TENANT_COLUMNS) head.append(Object.assign(document.createElement('th'), { textContent: column }));
  }
  const body = table.tBodies[0] ?? table.createTBody();
  const cells = rows.map(tenantCells);
  body.replaceChildren(
    ...cells.map((row, i) => {
      const tr = document.createElement('tr');
      tr.dataset.key = (rows[i] as TenantRow).key;
      for (const text of row) tr.insertCell().textContent = text;
      return tr;
    }),
  );
  return cells;
}
