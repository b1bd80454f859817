import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { FLAGS } from './flags.js';

/** What a --config file holds: flag values by flag name, and the backends and keys lists when it has them. */
export interface ConfigFile {
  readonly path: string;
  readonly flags: Readonly<Record<string, string | string[]>>;
  readonly backends: unknown;
  /** The named keys (tenants) list, parsed by keysFromList. */
  readonly keys: unknown;
}

/** Flags that make no sense inside the file itself. */
const NOT_IN_FILE = new Set(['config', 'help', 'version']);
/** Flags whose value may be a list in the file, as they may repeat on the command line. */
const LIST_FLAGS = new Set(['api-key', 'backend-url']);

/**
 * Reads a YAML (.yaml, .yml) or JSON (.json) file: a mapping whose keys are flag names (`routing:
 * least-load`, `health-interval: 5s`) plus `backends:`. Scalars become the strings a flag would carry, so
 * one validation serves the command line, the environment and the file. Throws an Error whose message
 * names the file and the problem.
 */
export function readConfigFile(path: string): ConfigFile {
  const kind = extname(path).toLowerCase();
  if (kind !== '.yaml' && kind !== '.yml' && kind !== '.json') throw new Error(`${path}: expected a .yaml, .yml or .json file`);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let parsed: unknown;
  try {
    parsed = kind === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new Error(`${path}: not valid ${kind === '.json' ? 'JSON' : 'YAML'} (${firstLine((err as Error).message)})`);
  }
  if (parsed === null || parsed === undefined) parsed = {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error(`${path}: expected a mapping of flag names to values`);
  const flags: Record<string, string | string[]> = {};
  let backends: unknown;
  let keys: unknown;
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (key === 'backends') {
      backends = value;
      continue;
    }
    if (key === 'keys') {
      keys = value;
      continue;
    }
    if (!(key in FLAGS) || NOT_IN_FILE.has(key))
      throw new Error(`${path}: unknown key ${JSON.stringify(key)} (keys are flag names, see --help)`);
    flags[key] = flagText(path, key, value);
  }
  if (backends !== undefined && flags['backend-url'] !== undefined) {
    throw new Error(`${path}: give either backends: or backend-url:, not both`);
  }
  return Object.freeze({ path, flags: Object.freeze(flags), backends, keys });
}

function flagText(path: string, key: string, value: unknown): string | string[] {
  if (Array.isArray(value) && LIST_FLAGS.has(key)) return value.map((item) => scalarText(path, key, item));
  return scalarText(path, key, value);
}

function scalarText(path: string, key: string, value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new Error(`${path}: ${key}: expected a single value, got ${Array.isArray(value) ? 'a list' : JSON.stringify(value)}`);
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}
