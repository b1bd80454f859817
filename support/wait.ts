import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  /** Give up after this long (default 10 s). */
  readonly timeoutMs?: number;
  /** Pause between two probes (default 25 ms). */
  readonly everyMs?: number;
}

/**
 * The one poll-until-true of the tests and benchmarks: calls `probe` until `accept` likes its value and
 * returns that value. A probe that throws counts as "not yet". After `timeoutMs` it fails with `what`,
 * the last value and the last error, so a failure says how far things got.
 */
export async function eventually<T>(
  what: string,
  probe: () => T | Promise<T>,
  accept: (value: T) => boolean = Boolean,
  options: WaitOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const everyMs = options.everyMs ?? 25;
  const deadline = performance.now() + timeoutMs;
  let last: { value: T } | null = null;
  let lastError: unknown = null;
  for (;;) {
    try {
      const value = await probe();
      if (accept(value)) return value;
      last = { value };
    } catch (err) {
      lastError = err;
    }
    if (performance.now() >= deadline) {
      const seen = last === null ? 'no value' : `last value ${JSON.stringify(last.value)}`;
      const error = lastError === null ? '' : `; last error: ${String(lastError)}`;
      throw new Error(`${what}: not reached within ${timeoutMs} ms (${seen}${error})`);
    }
    await sleep(everyMs);
  }
}
