import pino, { type Logger } from 'pino';
import type { Config } from '../config/types.js';

export type { Logger };

const PIPE_BUF_BYTES = 4096;
/** Lines are gathered until this much is buffered (a write syscall per ~8 access lines, not per line)… */
const BATCH_BYTES = 3072;
/** …or until this much time has passed: no line waits longer than this to be written. */
const LOG_FLUSH_INTERVAL_MS = 100;

/** Where batches go: sonic-boom in the proxy (its write and flushSync are all that is used). */
export interface LineSink {
  write(batch: string): unknown;
  flushSync(): void;
}

/**
 * The lines of one batch, joined here before they reach sonic-boom. sonic-boom can batch by itself
 * (minLength), but it measures its whole pending string on every write (Buffer.byteLength of a
 * string that grows line by line flattens it again each time): at thousands of access lines a second
 * that copying was the largest allocation of a request. Here each line is measured once, a batch is
 * flattened once, and sonic-boom only ever sees whole batches.
 *
 * A batch never goes over PIPE_BUF (4 KiB): the workers share stdout, and only writes that small are
 * atomic on a pipe (pm2, a terminal), so lines from different workers never interleave mid-line. A
 * line longer than that is written alone. Every log line goes through here, so they stay in order.
 */
export class LineBatcher {
  readonly #sink: LineSink;
  #pending = '';
  #pendingBytes = 0;
  /**
   * Armed by a line that finds nothing pending, never by the time alone: a timer that fired ten times a
   * second in every process with nothing to write was a quarter of the idle proxy's CPU per process (issue 18).
   */
  #timer: NodeJS.Timeout | null = null;
  #armed = false;
  readonly #intervalMs: number;

  constructor(sink: LineSink, intervalMs = LOG_FLUSH_INTERVAL_MS) {
    this.#sink = sink;
    this.#intervalMs = intervalMs;
  }

  write(line: string): boolean {
    const bytes = Buffer.byteLength(line);
    if (this.#pendingBytes + bytes > PIPE_BUF_BYTES) this.flush();
    this.#pending += line;
    this.#pendingBytes += bytes;
    if (this.#pendingBytes >= BATCH_BYTES) this.flush();
    else if (!this.#armed) this.#arm();
    return true;
  }

  #arm(): void {
    this.#armed = true;
    // One Timeout for the batcher's life, started again (refresh) after it fired.
    if (this.#timer !== null) {
      this.#timer.refresh();
      return;
    }
    this.#timer = setTimeout(() => {
      this.#armed = false;
      this.flush();
    }, this.#intervalMs);
    this.#timer.unref();
  }

  /** Hands the pending lines to sonic-boom, which writes them at once or after the write in flight. */
  flush(): void {
    if (this.#pendingBytes === 0) return;
    const batch = this.#pending;
    this.#pending = '';
    this.#pendingBytes = 0;
    this.#sink.write(batch);
  }

  flushSync(): void {
    this.flush();
    this.#sink.flushSync();
  }
}

/**
 * pino JSON to stdout. Asynchronous, batched writes keep the request path off the write syscall (like
 * nginx's `access_log … buffer= flush=`); flushLogger() must run before a deliberate exit or the last
 * lines are lost.
 */
export function createLogger(config: Pick<Config, 'logLevel'>, bindings: Record<string, unknown>): Logger {
  // sonic-boom writes each batch as it comes (or right after the write in flight, several batches
  // joined up to maxWrite, never splitting one): batching is LineBatcher's.
  const sink = pino.destination({ dest: 1, sync: false, maxWrite: PIPE_BUF_BYTES, minLength: 0 });
  return pino(
    {
      level: config.logLevel,
      base: { pid: process.pid, ...bindings },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    new LineBatcher(sink),
  );
}

/** Writes out what the asynchronous destination still buffers; call before process.exit(). */
export function flushLogger(log: Logger): void {
  const stream = (log as unknown as Record<symbol, { flushSync?: () => void } | undefined>)[pino.symbols.streamSym];
  try {
    stream?.flushSync?.();
  } catch {
    // A closed stdout (the parent went away) must not turn shutdown into a crash.
  }
}
