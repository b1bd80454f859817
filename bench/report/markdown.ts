/** Cells and tables of the benchmark reports (GitHub markdown). */

/** A figure with thousands separators and fixed digits; – when unknown. */
export function fmt(v: number | null, digits = 0): string {
  return v === null ? '–' : v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** `v` relative to `base`, as `1.23×`; – when either is unknown or the base is 0. */
export function ratio(v: number | null, base: number | null): string {
  return v === null || base === null || base === 0 ? '–' : `${(v / base).toFixed(2)}×`;
}

/** A change with its sign; the minus is U+2212, as in every report so far. */
export function signed(v: number, digits = 1): string {
  return `${v >= 0 ? '+' : '−'}${fmt(Math.abs(v), digits)}`;
}

export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
