/** Reads one sample from Prometheus text: `name{a="x",b="y"}` with the labels in any order. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = parseLabels(match[2] ?? '');
    const wanted = Object.entries(labels);
    if (wanted.length !== Object.keys(found).length) continue;
    if (wanted.every(([key, value]) => found[key] === value)) return Number(match[3]);
  }
  return undefined;
}

export function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  const pattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) labels[match[1] as string] = match[2] as string;
  return labels;
}

/** All bucket counts of a histogram series, keyed by `le`. */
export function buckets(text: string, name: string, labels: Record<string, string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}_bucket{`)) continue;
    const match = /^[^{]+\{(.*)\}\s+(\S+)$/.exec(line);
    if (!match) continue;
    const found = parseLabels(match[1] as string);
    const { le, ...rest } = found;
    if (le === undefined) continue;
    if (Object.keys(rest).length !== Object.keys(labels).length) continue;
    if (Object.entries(labels).every(([key, value]) => rest[key] === value)) out[le] = Number(match[2]);
  }
  return out;
}
