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

/**
 * The targets of repetition `rep` (from 1), rotated by one each time: every target takes every position
 * in turn. In a fixed order the position showed in the figures (bench/README.md, "Alternation"), and
 * a bias of the position lands on one target only.
 */
export function inRotation<T>(items: readonly T[], rep: number): T[] {
  if (items.length === 0) return [];
  const shift = (rep - 1) % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}
