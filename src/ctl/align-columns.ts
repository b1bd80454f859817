/**
 * Rows of cells as lines of text in columns: the first `leftColumns` columns (names) flush left, the rest
 * (numbers) flush right, two spaces apart, no trailing blanks.
 */
export function alignColumns(rows: readonly (readonly string[])[], leftColumns: number): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows.map((row) =>
    row
      .map((cell, i) => (i < leftColumns ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number)))
      .join('  ')
      .trimEnd(),
  );
}
