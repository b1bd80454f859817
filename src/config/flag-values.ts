import { isIP } from 'node:net';
import { usableCpuCount } from './cpu-count.js';
import { parseDurationMs, parseInteger } from './parse-units.js';
import type { Config } from './types.js';

// The value parsers of the flags: each takes the raw string (or file scalar) and returns the typed value or
// throws an Error whose message, prefixed with the flag's name, is the one line printed (see buildConfig).

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export function parseStripPrefix(raw: unknown): string {
  const text = String(raw);
  if (text === '') return '';
  if (!text.startsWith('/') || text.endsWith('/') || /[?#\s]/.test(text)) {
    throw new Error(`expected '' or a path like /inference (leading slash, no trailing slash), got ${JSON.stringify(text)}`);
  }
  return text;
}

export function parseHost(raw: unknown): string {
  const text = String(raw).trim();
  if (!text) throw new Error('must not be empty');
  return text;
}

export function parseTimeout(raw: unknown): number {
  const ms = parseDurationMs(raw);
  if (ms > MAX_TIMEOUT_MS) throw new Error(`at most ${MAX_TIMEOUT_MS} ms`);
  return ms;
}

export function parsePositiveTimeout(raw: unknown): number {
  const ms = parseTimeout(raw);
  if (ms === 0) throw new Error('must be greater than 0');
  return ms;
}

export function parseLogLevel(raw: unknown): Config['logLevel'] {
  const text = String(raw).toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(text))
    throw new Error(`expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(text)}`);
  return text as Config['logLevel'];
}

export function parseWorkers(raw: unknown): number {
  if (String(raw).trim() === 'auto') return usableCpuCount();
  return parseInteger(raw, 1, 1024);
}

export function parseOneOf<T extends string>(choices: readonly T[]): (raw: unknown) => T {
  return (raw) => {
    const text = String(raw).trim().toLowerCase();
    if (!(choices as readonly string[]).includes(text))
      throw new Error(`expected ${choices.join(', ')}, got ${JSON.stringify(String(raw))}`);
    return text as T;
  };
}

export function parseHealthPath(raw: unknown): string {
  const text = String(raw).trim();
  if (!text.startsWith('/') || /[\s#]/.test(text)) throw new Error(`expected a path like /health, got ${JSON.stringify(text)}`);
  return text;
}

export const MAX_PREFIX_BYTES = 2048;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

export function parseHeaderName(raw: unknown): string {
  const text = String(raw).trim().toLowerCase();
  if (!HEADER_NAME.test(text)) throw new Error(`expected a header name, got ${JSON.stringify(String(raw))}`);
  return text;
}

export function parseLoadFactor(raw: unknown): number {
  const text = String(raw).trim();
  const value = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || value < 1 || value > 100)
    throw new Error(`expected a number from 1 to 100, got ${JSON.stringify(text)}`);
  return value;
}

/** A share from above 0 to 1 (--saturation-kv). */
export function parseShare(raw: unknown): number {
  const text = String(raw).trim();
  const value = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || value <= 0 || value > 1)
    throw new Error(`expected a number above 0, at most 1, got ${JSON.stringify(text)}`);
  return value;
}

/** host:port of a DNS server: an IP address (the resolver takes no names), optionally with a port. */
export function parseDnsServer(raw: unknown): string | null {
  const text = String(raw ?? '').trim();
  if (text === '') return null;
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+))(?::(\d{1,5}))?$/.exec(text) ?? /^([0-9a-fA-F:]+)()()$/.exec(text);
  const address = match?.[1] || match?.[2] || '';
  if (match === null || isIP(address) === 0 || Number(match[3] || 53) > 65535) {
    throw new Error(`expected an IP address with an optional port (10.0.0.10, 10.0.0.10:53, [fd00::a]:53), got ${JSON.stringify(text)}`);
  }
  return text;
}
