/** Parsers for flag values with units. Each returns a number or throws an Error whose message says what is accepted. */

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1024,
  kib: 1024,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};
const DURATION_UNITS: Record<string, number> = { '': 1, ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 };

function parseWithUnit(raw: unknown, units: Record<string, number>, what: string): number {
  const text = String(raw).trim().toLowerCase();
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/.exec(text);
  const factor = match ? units[match[2] ?? ''] : undefined;
  if (!match || factor === undefined) {
    throw new Error(`expected ${what}, got ${JSON.stringify(String(raw))}`);
  }
  const value = Math.round(Number(match[1]) * factor);
  if (!Number.isSafeInteger(value)) throw new Error(`value ${JSON.stringify(String(raw))} is too large`);
  return value;
}

/** Bytes: a plain integer, or with kb/mb/gb (powers of 1024). */
export function parseBytes(raw: unknown): number {
  return parseWithUnit(raw, SIZE_UNITS, 'a size in bytes such as 1048576, 512kb or 32mb');
}

/** Milliseconds: a plain integer, or with ms/s/m/h. */
export function parseDurationMs(raw: unknown): number {
  return parseWithUnit(raw, DURATION_UNITS, 'a duration in milliseconds such as 5000, 30s or 10m');
}

export function parseInteger(raw: unknown, min: number, max: number): number {
  const text = String(raw).trim();
  if (!/^\d+$/.test(text)) throw new Error(`expected an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  const value = Number(text);
  if (value < min || value > max) throw new Error(`expected an integer from ${min} to ${max}, got ${value}`);
  return value;
}

export function parseOnOff(raw: unknown): boolean {
  const text = String(raw).trim().toLowerCase();
  if (['', 'on', 'true', '1', 'yes'].includes(text)) return true;
  if (['off', 'false', '0', 'no'].includes(text)) return false;
  throw new Error(`expected on or off, got ${JSON.stringify(String(raw))}`);
}
