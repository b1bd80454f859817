/** The figures a run yields, summarised over repetitions or samples. */

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The values that are known (a proxy CPU figure is null when a worker came or went during the run). */
export function known(values: readonly (number | null)[]): number[] {
  return values.filter((v): v is number => v !== null);
}

export function medianOrNull(values: readonly (number | null)[]): number | null {
  const list = known(values);
  return list.length === 0 ? null : median(list);
}
