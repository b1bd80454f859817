import type { BackendConfig } from './types.js';

/** Most models listed for one backend in a config file; more is a typo, not a fleet. */
const MAX_MODELS = 1_000;
const MAX_WEIGHT = 1_000;
const BACKEND_KEYS = new Set(['url', 'weight', 'models', 'max_concurrency']);
const MAX_CONCURRENCY = 1_000_000;

/** Where the URL of a backend lives, without its weight and models. */
export type BackendAddress = Pick<BackendConfig, 'url' | 'origin' | 'basePath'>;

export function parseBackendUrl(raw: unknown): BackendAddress {
  let url: URL;
  try {
    url = new URL(String(raw).trim());
  } catch {
    throw new Error(`expected an http:// or https:// URL, got ${JSON.stringify(String(raw))}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`expected http:// or https://, got ${url.protocol}`);
  if (url.search || url.hash || url.username || url.password) throw new Error('the URL must not carry a query, fragment or credentials');
  const basePath = url.pathname.replace(/\/+$/, '');
  return Object.freeze({ url: url.origin + basePath, origin: url.origin, basePath });
}

/**
 * Backends from --backend-url values (the flag may repeat, each value may be a comma-separated list, and
 * so may INFERENCE_PROXY_BACKEND_URL): weight 1, models discovered.
 */
export function backendsFromUrls(values: readonly unknown[]): BackendConfig[] {
  const out: BackendConfig[] = [];
  for (const value of values) {
    for (const part of String(value).split(',')) {
      if (part.trim() === '') continue;
      out.push(Object.freeze({ ...parseBackendUrl(part), weight: 1, models: null, maxConcurrency: null }));
    }
  }
  if (out.length === 0) throw new Error('expected at least one backend URL');
  return out;
}

/** The `backends:` list of a config file: each entry a URL string or `{url, weight?, models?, max_concurrency?}`. */
export function backendsFromList(list: unknown): BackendConfig[] {
  if (!Array.isArray(list) || list.length === 0) throw new Error('expected a non-empty list of backends');
  return list.map((entry, i) => {
    try {
      return backendEntry(entry);
    } catch (err) {
      throw new Error(`backends[${i}]: ${(err as Error).message}`);
    }
  });
}

function backendEntry(entry: unknown): BackendConfig {
  if (typeof entry === 'string') return Object.freeze({ ...parseBackendUrl(entry), weight: 1, models: null, maxConcurrency: null });
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
    throw new Error('expected a URL or {url, weight, models, max_concurrency}');
  const record = entry as Record<string, unknown>;
  for (const key of Object.keys(record)) if (!BACKEND_KEYS.has(key)) throw new Error(`unknown key ${JSON.stringify(key)}`);
  if (record.url === undefined) throw new Error('url is required');
  let address: BackendAddress;
  try {
    address = parseBackendUrl(record.url);
  } catch (err) {
    throw new Error(`url: ${(err as Error).message}`);
  }
  return Object.freeze({
    ...address,
    weight: weightOf(record.weight),
    models: modelsOf(record.models),
    maxConcurrency: maxConcurrencyOf(record.max_concurrency),
  });
}

function maxConcurrencyOf(raw: unknown): number | null {
  if (raw === undefined || raw === null) return null;
  const value = typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw) : raw;
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > MAX_CONCURRENCY) {
    throw new Error(`max_concurrency: expected an integer from 1 to ${MAX_CONCURRENCY}, got ${JSON.stringify(raw)}`);
  }
  return value as number;
}

function weightOf(raw: unknown): number {
  if (raw === undefined) return 1;
  const value = typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw) : raw;
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > MAX_WEIGHT) {
    throw new Error(`weight: expected an integer from 1 to ${MAX_WEIGHT}, got ${JSON.stringify(raw)}`);
  }
  return value as number;
}

function modelsOf(raw: unknown): readonly string[] | null {
  if (raw === undefined || raw === null) return null;
  if (!Array.isArray(raw) || raw.length > MAX_MODELS || !raw.every((model) => typeof model === 'string' && model.trim() !== '')) {
    throw new Error(`models: expected a list of model names (at most ${MAX_MODELS})`);
  }
  return Object.freeze([...new Set(raw.map((model: string) => model.trim()))]);
}

/** The first URL that appears twice, or null. */
export function duplicateUrl(backends: readonly BackendConfig[]): string | null {
  const seen = new Set<string>();
  for (const backend of backends) {
    if (seen.has(backend.url)) return backend.url;
    seen.add(backend.url);
  }
  return null;
}
