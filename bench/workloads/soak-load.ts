import { Agent, request } from 'undici';
import type { Kind, Outcome } from './soak-kind.js';
import { FRESH_CONNECTION_EVERY, pickKind, SOAK_KINDS } from './soak-mix.js';

const REQUEST_TIMEOUT_MS = 30_000;
/** Unexpected outcomes kept per kind, for the report. */
const SAMPLES_PER_KIND = 3;

export interface KindTally {
  sent: number;
  expected: number;
  unexpected: number;
  /** A few unexpected outcomes, for the report. */
  samples: string[];
}

export interface PhaseResult {
  seconds: number;
  sent: number;
  byKind: Map<string, KindTally>;
  byLabel: Map<string, number>;
}

/** One request of `kind`, read to its end (or aborted as the kind says); never throws. */
async function runOne(url: string, kind: Kind, dispatcher: Agent): Promise<Outcome> {
  const outcome: Outcome = { status: 0, text: '', error: null, aborted: false };
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error('soak request timeout')), REQUEST_TIMEOUT_MS);
  let chunks = 0;
  try {
    const res = await request(`${url}${kind.path}`, {
      method: kind.method,
      headers: kind.headers,
      body: kind.body,
      dispatcher,
      signal: controller.signal,
      headersTimeout: REQUEST_TIMEOUT_MS,
      bodyTimeout: REQUEST_TIMEOUT_MS,
    });
    outcome.status = res.statusCode;
    const parts: Buffer[] = [];
    for await (const chunk of res.body) {
      parts.push(chunk as Buffer);
      chunks++;
      if (kind.abortAfterChunks !== undefined && chunks >= kind.abortAfterChunks && !outcome.aborted) {
        outcome.aborted = true;
        controller.abort(new Error('client abort mid-stream'));
      }
    }
    outcome.text = Buffer.concat(parts).toString('utf8');
  } catch (err) {
    const e = err as { code?: string; name?: string; message?: string };
    outcome.error = `${e.code ?? e.name ?? 'Error'}: ${e.message ?? String(err)}`;
  } finally {
    clearTimeout(timer);
  }
  return outcome;
}

/** Counts an outcome under its kind and its label (`unexpected` when the kind did not get what it should). */
function tally(result: PhaseResult, kind: Kind, outcome: Outcome): void {
  const counts = result.byKind.get(kind.name) as KindTally;
  counts.sent++;
  const ok = kind.expected(outcome);
  const label = ok ? kind.label : 'unexpected';
  result.byLabel.set(label, (result.byLabel.get(label) ?? 0) + 1);
  if (ok) {
    counts.expected++;
    return;
  }
  counts.unexpected++;
  if (counts.samples.length < SAMPLES_PER_KIND) {
    counts.samples.push(`status ${outcome.status}, ${outcome.error ?? `body ${outcome.text.slice(-80)}`}`);
  }
}

/**
 * `concurrency` client loops for `seconds`, each sending one request of the mix after the other; one in
 * FRESH_CONNECTION_EVERY on a connection of its own. Every client connection is closed when it returns.
 */
export async function runPhase(url: string, concurrency: number, seconds: number, random: () => number): Promise<PhaseResult> {
  const result: PhaseResult = {
    seconds: 0,
    sent: 0,
    byKind: new Map(SOAK_KINDS.map((kind) => [kind.name, { sent: 0, expected: 0, unexpected: 0, samples: [] }])),
    byLabel: new Map(),
  };
  const pool = new Agent({ connections: concurrency, pipelining: 1, keepAliveTimeout: 10_000 });
  const started = performance.now();
  const endAt = started + seconds * 1000;
  const loop = async (): Promise<void> => {
    while (performance.now() < endAt) {
      const kind = pickKind(random);
      const fresh = random() * FRESH_CONNECTION_EVERY < 1 ? new Agent({ connections: 1, pipelining: 0 }) : null;
      result.sent++;
      const outcome = await runOne(url, kind, fresh ?? pool);
      if (fresh !== null) await fresh.destroy().catch(() => undefined);
      tally(result, kind, outcome);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  result.seconds = (performance.now() - started) / 1000;
  // Closing the pool closes every client connection: the snapshot that follows sees no client sockets.
  await pool.destroy().catch(() => undefined);
  return result;
}
