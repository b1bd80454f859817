import { type Dispatcher, request } from 'undici';
import type { HealthResult } from '../metrics/fleet-metrics.js';

/** A backend's model list is read with this bound: it is small, and a slow answer must not pile up. */
const DISCOVERY_TIMEOUT_MS = 5_000;
/** Bodies above this are not model lists; the read is abandoned. */
const MAX_MODELS_BODY_BYTES = 4 * 1024 * 1024;
const MAX_MODELS = 1_000;
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

export interface ProbeOutcome {
  readonly result: HealthResult;
  readonly latencyMs: number;
  /** The status of an http_error, else null. */
  readonly status: number | null;
}

/** One active health check: GET `url`, healthy on a 2xx within `timeoutMs`. Never throws. */
export async function probeHealth(dispatcher: Dispatcher, url: string, host: string, timeoutMs: number): Promise<ProbeOutcome> {
  const started = performance.now();
  try {
    const res = await request(url, {
      dispatcher,
      headers: { host, 'user-agent': 'inference-proxy-health' },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
    });
    // The body is not needed; reading it to the end lets the connection be reused.
    await res.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
    const ok = res.statusCode >= 200 && res.statusCode < 300;
    return { result: ok ? 'ok' : 'http_error', latencyMs: performance.now() - started, status: ok ? null : res.statusCode };
  } catch (err) {
    // undici's own timeouts carry a code; the AbortSignal's is a DOMException named TimeoutError.
    const { code, name } = err as { code?: unknown; name?: unknown };
    const timedOut = name === 'TimeoutError' || (typeof code === 'string' && TIMEOUT_CODES.has(code));
    return { result: timedOut ? 'timeout' : 'unreachable', latencyMs: performance.now() - started, status: null };
  }
}

/**
 * The model cards of GET `url` (an OpenAI model list: `{"data":[{"id":...}, ...]}`), each id once; null when
 * the backend serves no such list or cannot be read (its models then stay as they were, or unknown).
 */
export async function discoverModels(dispatcher: Dispatcher, url: string, host: string): Promise<Record<string, unknown>[] | null> {
  try {
    const res = await request(url, {
      dispatcher,
      headers: { host, accept: 'application/json', 'user-agent': 'inference-proxy-discovery' },
      headersTimeout: DISCOVERY_TIMEOUT_MS,
      bodyTimeout: DISCOVERY_TIMEOUT_MS,
      signal: AbortSignal.timeout(DISCOVERY_TIMEOUT_MS),
    });
    if (res.statusCode !== 200) {
      await res.body.dump().catch(() => undefined);
      return null;
    }
    const declared = Number(res.headers['content-length'] ?? 0);
    if (declared > MAX_MODELS_BODY_BYTES) {
      res.body.destroy();
      return null;
    }
    return modelCards(await res.body.json());
  } catch {
    return null;
  }
}

/** The cards of an OpenAI list body, each id once (the first card wins); null when it is not such a list. */
function modelCards(body: unknown): Record<string, unknown>[] | null {
  const data = (body as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) return null;
  const seen = new Set<string>();
  const cards: Record<string, unknown>[] = [];
  for (const card of data) {
    const id = (card as { id?: unknown } | null)?.id;
    if (typeof id !== 'string' || id === '' || seen.has(id)) continue;
    seen.add(id);
    cards.push(card as Record<string, unknown>);
    if (cards.length === MAX_MODELS) break;
  }
  return cards;
}
