import pino from 'pino';
import type { Logger } from '../shared/logger.js';

/** One failed attempt of a request that was retried: the backend and its status or failure. */
export interface AttemptNote {
  readonly backend: string;
  readonly result: number | string;
}

/** One access-log record; null where a value does not apply to the request. */
export interface AccessRecord {
  readonly requestId: string;
  /** The name of the key the request presented (never the key); null without one. */
  readonly key: string | null;
  readonly method: string | undefined;
  readonly path: string | undefined;
  readonly status: number;
  /** The backend that answered; null when the proxy answered itself (401, 404 model_not_found, 503 shed). */
  readonly backend: string | null;
  readonly endpoint: string;
  readonly ttfbMs: number | null;
  readonly durationMs: number;
  readonly bytesIn: number | null;
  readonly bytesOut: number;
  readonly stream: boolean;
  readonly model: string | null;
  readonly promptTokens: number | null;
  readonly completionTokens: number | null;
  readonly ttftMs: number | null;
  readonly tpotMs: number | null;
  readonly outcome: string | null;
  readonly error: string | null;
  /** The failed attempts before the one that answered; null when there was only one. */
  readonly attempts: readonly AttemptNote[] | null;
}

type Destination = { write(line: string): unknown };

const num = (value: number | null): string => (value === null ? 'null' : String(Math.round(value * 1000) / 1000));
const str = (value: string | null | undefined): string => (value == null ? 'null' : JSON.stringify(value));

/**
 * The access log line, built by hand into pino's own destination: one line per request is the
 * hottest log call by far, and pino's generic serializer costs more than the request itself should.
 * The line has exactly the shape pino would give it (level, time, bindings, fields, msg), and it goes
 * through the same stream, so it stays in order with every other log line.
 */
export class AccessLog {
  readonly #destination: Destination;
  readonly #head: string;
  readonly #enabled: boolean;
  #clockMs = -1;
  #clockIso = '';

  constructor(log: Logger) {
    this.#destination = (log as unknown as Record<symbol, Destination>)[pino.symbols.streamSym] as Destination;
    this.#enabled = log.isLevelEnabled('info');
    // The logger's own bindings (pid, role, worker), as pino would print them.
    const base = JSON.stringify({ pid: process.pid, ...log.bindings() });
    this.#head = `,${base.slice(1, -1)},`;
  }

  write(r: AccessRecord): void {
    if (!this.#enabled) return;
    const line =
      `{"level":"info","time":"${this.#isoNow()}"${this.#head}` +
      `"request_id":${str(r.requestId)},` +
      (r.key === null ? '' : `"key":${str(r.key)},`) +
      `"method":${str(r.method)},"path":${str(r.path)},"status":${r.status},` +
      `"backend":${str(r.backend)},"endpoint":${str(r.endpoint)},"ttfb_ms":${num(r.ttfbMs)},"duration_ms":${num(r.durationMs)},` +
      `"bytes_in":${r.bytesIn === null ? 'null' : r.bytesIn},"bytes_out":${r.bytesOut},"stream":${r.stream},"model":${str(r.model)},` +
      `"prompt_tokens":${r.promptTokens === null ? 'null' : r.promptTokens},"completion_tokens":${r.completionTokens === null ? 'null' : r.completionTokens},` +
      `"ttft_ms":${num(r.ttftMs)},"tpot_ms":${num(r.tpotMs)},"outcome":${str(r.outcome)}` +
      (r.error === null ? '' : `,"error":${str(r.error)}`) +
      (r.attempts === null ? '' : `,"attempts":${JSON.stringify(r.attempts)}`) +
      ',"msg":"access"}\n';
    this.#destination.write(line);
  }

  /** The ISO time, formatted once per millisecond: at thousands of lines a second most share it. */
  #isoNow(): string {
    const now = Date.now();
    if (now !== this.#clockMs) {
      this.#clockMs = now;
      this.#clockIso = new Date(now).toISOString();
    }
    return this.#clockIso;
  }
}
