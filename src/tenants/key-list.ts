import { createHash } from 'node:crypto';
import { DEFAULT_PRIORITY_CLASS, isPriorityClass, PRIORITY_CLASSES, type PriorityClass } from '../admission/priority-class.js';
import { parseDurationMs } from '../config/parse-units.js';
import { type Budget, type Rate, STATIC_KEY_NAME, type TenantKey, type TenantLimits } from './tenant-types.js';

/** A key's name is a metric label value and part of Redis key names: short, and nothing that needs quoting. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const DIGEST = /^[0-9a-f]{64}$/;
const KEY = /^[\x21-\x7e]{1,512}$/;
const MAX_KEYS = 10_000;
const MAX_MODELS = 1_000;
const MAX_AMOUNT = 1e15;
const MINUTE_MS = 60_000;
/** Shortest window a limit may name: below it the rate's arithmetic is mostly rounding. */
const MIN_WINDOW_MS = 100;
const ENTRY_KEYS = new Set([
  'name',
  'key_sha256',
  'key_env',
  'key',
  'models',
  'rpm',
  'tpm',
  'max_parallel',
  'budget',
  'admin',
  'priority',
  'weight',
]);
const MAX_WEIGHT = 1_000;

export interface KeyList {
  readonly keys: readonly TenantKey[];
  /** One line per plain `key:` entry: accepted, but the key then sits in the file in clear. */
  readonly warnings: readonly string[];
}

/**
 * The `keys:` list of a config file. Each entry: `name`, one of `key_sha256` / `key_env` / `key`, and
 * optional `models`, `rpm`, `tpm`, `max_parallel`, `budget`, `admin`. Throws an Error naming the entry
 * (`keys[2] (team-a): ...`) and the problem. `env` is where `key_env` names are looked up.
 */
export function keysFromList(list: unknown, env: NodeJS.ProcessEnv): KeyList {
  if (!Array.isArray(list)) throw new Error('keys: expected a list of {name, key_sha256 | key_env | key, ...}');
  if (list.length > MAX_KEYS) throw new Error(`keys: at most ${MAX_KEYS} keys`);
  const keys: TenantKey[] = [];
  const warnings: string[] = [];
  const names = new Set<string>();
  const digests = new Map<string, string>();
  list.forEach((entry, i) => {
    const label = `keys[${i}]${entryName(entry)}`;
    let key: TenantKey;
    try {
      key = keyEntry(entry, env, warnings, label);
    } catch (err) {
      throw new Error(`${label}: ${(err as Error).message}`);
    }
    if (names.has(key.name)) throw new Error(`${label}: name ${JSON.stringify(key.name)} is given twice`);
    const holder = digests.get(key.digest);
    if (holder !== undefined) throw new Error(`${label}: the same key as ${JSON.stringify(holder)}`);
    names.add(key.name);
    digests.set(key.digest, key.name);
    keys.push(key);
  });
  return { keys: Object.freeze(keys), warnings: Object.freeze(warnings) };
}

function entryName(entry: unknown): string {
  const name = typeof entry === 'object' && entry !== null ? (entry as { name?: unknown }).name : undefined;
  return typeof name === 'string' ? ` (${name})` : '';
}

function keyEntry(entry: unknown, env: NodeJS.ProcessEnv, warnings: string[], label: string): TenantKey {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
    throw new Error('expected {name, key_sha256 | key_env | key, ...}');
  const record = entry as Record<string, unknown>;
  for (const field of Object.keys(record)) if (!ENTRY_KEYS.has(field)) throw new Error(`unknown field ${JSON.stringify(field)}`);
  const name = record.name;
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new Error('name: expected 1 to 64 letters, digits, _ . - (starting with a letter or digit)');
  }
  if (name === STATIC_KEY_NAME) throw new Error(`name: ${STATIC_KEY_NAME} is the name of the --api-key keys`);
  const limits: TenantLimits = Object.freeze({
    requests: rateOf(record.rpm, 'rpm', 'requests'),
    tokens: rateOf(record.tpm, 'tpm', 'tokens'),
    parallel: record.max_parallel === undefined ? null : count(record.max_parallel, 'max_parallel', 1, 1_000_000),
    budget: budgetOf(record.budget),
  });
  return Object.freeze({
    name,
    digest: digestOf(record, env, warnings, label),
    models: modelsOf(record.models),
    admin: flagOf(record.admin, 'admin'),
    limits,
    priority: priorityOf(record.priority),
    weight: record.weight === undefined ? 1 : count(record.weight, 'weight', 1, MAX_WEIGHT),
  });
}

function priorityOf(raw: unknown): PriorityClass {
  if (raw === undefined) return DEFAULT_PRIORITY_CLASS;
  if (!isPriorityClass(raw)) throw new Error(`priority: expected ${PRIORITY_CLASSES.join(', ')}, got ${JSON.stringify(raw)}`);
  return raw;
}

function digestOf(record: Record<string, unknown>, env: NodeJS.ProcessEnv, warnings: string[], label: string): string {
  const given = ['key_sha256', 'key_env', 'key'].filter((field) => record[field] !== undefined);
  if (given.length !== 1) throw new Error('give exactly one of key_sha256, key_env and key');
  if (record.key_sha256 !== undefined) {
    const hex = String(record.key_sha256).trim().toLowerCase();
    if (!DIGEST.test(hex)) throw new Error('key_sha256: expected 64 hex digits (sha256sum of the key)');
    return hex;
  }
  if (record.key_env !== undefined) {
    const variable = String(record.key_env);
    const value = env[variable];
    if (value === undefined || value === '') throw new Error(`key_env: the environment variable ${variable} is not set`);
    return sha256(checkedKey(value.trim(), `key_env (${variable})`));
  }
  warnings.push(`${label}: the key is written in clear in the config file; prefer key_sha256 or key_env`);
  return sha256(checkedKey(String(record.key), 'key'));
}

function checkedKey(key: string, field: string): string {
  if (!KEY.test(key)) throw new Error(`${field}: a key is 1 to 512 printable ASCII characters without spaces`);
  return key;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** `600` (per minute) or `{requests: 10, per: 10s}` / `{tokens: 6000, per: 10s}`. */
function rateOf(raw: unknown, field: string, unit: 'requests' | 'tokens'): Rate | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw === 'object' && !Array.isArray(raw)) {
    const record = raw as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (key !== unit && key !== 'per') throw new Error(`${field}: unknown field ${JSON.stringify(key)} (expected ${unit} and per)`);
    }
    return Object.freeze({ amount: count(record[unit], `${field}.${unit}`, 1, MAX_AMOUNT), perMs: windowOf(record.per, `${field}.per`) });
  }
  return Object.freeze({ amount: count(raw, field, 1, MAX_AMOUNT), perMs: MINUTE_MS });
}

/** `{tokens: 5000000, per: month}`; per is day, month or a duration (windows aligned to the epoch, UTC). */
function budgetOf(raw: unknown): Budget | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new Error('budget: expected {tokens, per: day | month | a duration}');
  const record = raw as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (key !== 'tokens' && key !== 'per') throw new Error(`budget: unknown field ${JSON.stringify(key)} (expected tokens and per)`);
  }
  const per = String(record.per ?? '')
    .trim()
    .toLowerCase();
  const period = per === 'day' || per === 'month' ? per : windowOf(record.per, 'budget.per');
  return Object.freeze({ tokens: count(record.tokens, 'budget.tokens', 1, MAX_AMOUNT), period });
}

function windowOf(raw: unknown, field: string): number {
  if (raw === undefined) throw new Error(`${field}: expected a duration such as 10s or 1m`);
  let ms: number;
  try {
    ms = parseDurationMs(raw);
  } catch (err) {
    throw new Error(`${field}: ${(err as Error).message}`);
  }
  if (ms < MIN_WINDOW_MS || ms > 31 * 86_400_000) throw new Error(`${field}: expected from ${MIN_WINDOW_MS} ms to 31 days, got ${ms} ms`);
  return ms;
}

function count(raw: unknown, field: string, min: number, max: number): number {
  const value = typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new Error(`${field}: expected an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function flagOf(raw: unknown, field: string): boolean {
  if (raw === undefined) return false;
  if (typeof raw !== 'boolean') throw new Error(`${field}: expected true or false`);
  return raw;
}

function modelsOf(raw: unknown): readonly string[] | null {
  if (raw === undefined || raw === null) return null;
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_MODELS || !raw.every((m) => typeof m === 'string' && m.trim() !== '')) {
    throw new Error(`models: expected a list of model names or globs (1 to ${MAX_MODELS})`);
  }
  return Object.freeze([...new Set(raw.map((model: string) => model.trim()))]);
}
