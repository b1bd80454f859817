import type { HealthResult } from '../metrics/fleet-metrics.js';
import { type ProbeConnection, ProbeFailure } from './probe-connection.js';

/** A backend's model list is read with this bound: it is small, and a slow answer must not pile up. */
const DISCOVERY_TIMEOUT_MS = 5_000;
/** Bodies above this are not model lists; the read is abandoned. */
const MAX_MODELS_BODY_BYTES = 4 * 1024 * 1024;
/** A health check's body is read past (so that its connection can be kept) up to this; a longer one ends the connection. */
const MAX_HEALTH_BODY_BYTES = 64 * 1024;
const MAX_MODELS = 1_000;

export interface ProbeOutcome {
  readonly result: HealthResult;
  readonly latencyMs: number;
  /** The status of an http_error, else null. */
  readonly status: number | null;
}

/** One active health check: GET `path`, healthy on a 2xx within `timeoutMs`. Never throws. */
export async function probeHealth(connection: ProbeConnection, path: string, host: string, timeoutMs: number): Promise<ProbeOutcome> {
  const started = performance.now();
  try {
    const { status } = await connection.get({
      path,
      headers: `Host: ${host}\r\nUser-Agent: inference-proxy-health\r\n`,
      timeoutMs,
      keepBody: false,
      maxBodyBytes: MAX_HEALTH_BODY_BYTES,
    });
    const ok = status >= 200 && status < 300;
    return { result: ok ? 'ok' : 'http_error', latencyMs: performance.now() - started, status: ok ? null : status };
  } catch (err) {
    const result = err instanceof ProbeFailure ? err.result : 'unreachable';
    return { result, latencyMs: performance.now() - started, status: null };
  }
}

/**
 * The model cards of GET `path` (an OpenAI model list: `{"data":[{"id":...}, ...]}`), each id once; null when
 * the backend serves no such list or cannot be read (its models then stay as they were, or unknown).
 */
export async function discoverModels(connection: ProbeConnection, path: string, host: string): Promise<Record<string, unknown>[] | null> {
  try {
    const { status, body } = await connection.get({
      path,
      headers: `Host: ${host}\r\nAccept: application/json\r\nUser-Agent: inference-proxy-discovery\r\n`,
      timeoutMs: DISCOVERY_TIMEOUT_MS,
      keepBody: true,
      maxBodyBytes: MAX_MODELS_BODY_BYTES,
    });
    if (status !== 200 || body === null) return null;
    return modelCards(JSON.parse(body.toString('utf8')));
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
