import pino, { type Logger } from 'pino';
import type { Config } from '../config/types.js';

export type { Logger };

const PIPE_BUF_BYTES = 4096;
/** Lines are gathered until this much is buffered (a write syscall per ~12 access lines, not per line)… */
const BATCH_BYTES = 3072;
/** …or until this much time has passed: no line waits longer than this to be written. */
export const LOG_FLUSH_INTERVAL_MS = 100;

/**
 * pino JSON to stdout. Asynchronous, batched writes keep the request path off the write syscall (like
 * nginx's `access_log … buffer= flush=`); flushLogger() must run before a deliberate exit or the last
 * lines are lost.
 */
export function createLogger(config: Pick<Config, 'logLevel'>, bindings: Record<string, unknown>): Logger {
  // Lines written while a write is in flight are batched, but never into one write above PIPE_BUF
  // (4 KiB): the workers share stdout, and only writes that small are atomic on a pipe (pm2, a terminal),
  // so lines from different workers never interleave mid-line.
  const destination = pino.destination({
    dest: 1,
    sync: false,
    maxWrite: PIPE_BUF_BYTES,
    minLength: BATCH_BYTES,
    periodicFlush: LOG_FLUSH_INTERVAL_MS,
  });
  return pino(
    {
      level: config.logLevel,
      base: { pid: process.pid, ...bindings },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
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
