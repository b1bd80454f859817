import { performance } from 'node:perf_hooks';
import { quantileSorted } from '../measurement/overhead-stats.js';
import { Fifo } from './fifo.js';
import { LoadConnection } from './load-connection.js';
import type { OpenLoopJob, OpenLoopOutcome } from './overhead-messages.js';
import { ERROR_SAMPLES } from './overhead-workload.js';

/** The scheduler starts this long after the job arrives, so the first due time is not already late. */
const START_DELAY_MS = 5;

export interface WindowEvents {
  windowStart(): void;
  windowEnd(): void;
}

/** A request waiting for a free connection: its number in the schedule and when it was due. */
interface Pending {
  index: number;
  due: number;
}

/**
 * Requests due at a fixed rate whatever the answers: request k is due at start + k / rate and is sent as soon
 * as the timer lets the client see it is due, on a free connection (a new one while fewer than maxConnections
 * are open; else it waits, counted). Its latency runs from its due time, not from when it was sent, so a
 * target that stalls pays for every request that was due meanwhile (no coordinated omission).
 */
class OpenLoop {
  readonly #job: OpenLoopJob;
  readonly #events: WindowEvents;
  readonly #idle = new Fifo<LoadConnection>();
  readonly #all: LoadConnection[] = [];
  readonly #waiting = new Fifo<Pending>();
  readonly #intervalMs: number;
  readonly #firstInWindow: number;
  readonly #endOfWindow: number;
  readonly #total: number;
  #start = 0;
  #next = 0;
  #outstanding = 0;
  #closed = false;
  #timer: NodeJS.Timeout | null = null;
  #onSettled: (() => void) | null = null;
  readonly #latencies: number[] = [];
  readonly #lateness: number[] = [];
  readonly #connectionWaits: number[] = [];
  readonly #errorSamples: string[] = [];
  #answered = 0;
  #failed = 0;
  #skipped = 0;
  #answeredInWindow = 0;

  constructor(job: OpenLoopJob, events: WindowEvents) {
    this.#job = job;
    this.#events = events;
    this.#intervalMs = 1000 / job.rate;
    this.#firstInWindow = Math.round((job.warmupMs / 1000) * job.rate);
    this.#endOfWindow = this.#firstInWindow + Math.round((job.durationMs / 1000) * job.rate);
    this.#total = this.#endOfWindow;
    for (let i = 0; i < job.connections; i++) this.#idle.push(this.#open());
  }

  async run(): Promise<OpenLoopOutcome> {
    this.#start = performance.now() + START_DELAY_MS;
    const windowStart = this.#start + this.#job.warmupMs;
    const windowEnd = windowStart + this.#job.durationMs;
    const marks = [setTimeout(() => this.#events.windowStart(), windowStart - performance.now())];
    // The window's end is marked at its time even when every request has answered before it (the bench
    // samples CPU between the marks): settling waits for the end mark.
    const ended = new Promise<void>((resolve) => {
      marks.push(
        setTimeout(() => {
          this.#events.windowEnd();
          resolve();
        }, windowEnd - performance.now()),
      );
    });
    this.#timer = setTimeout(() => this.#tick(), START_DELAY_MS);
    await new Promise<void>((resolve) => {
      this.#onSettled = resolve;
    });
    await ended;
    // Every request has answered or the drain ran out: whatever is still open is cut.
    this.#closed = true;
    for (const mark of marks) clearTimeout(mark);
    if (this.#timer !== null) clearTimeout(this.#timer);
    const unfinished = this.#unfinishedInWindow();
    await Promise.all(this.#all.map((c) => c.destroy()));
    return this.#outcome(windowStart, windowEnd, unfinished);
  }

  #open(): LoadConnection {
    const connection = new LoadConnection(this.#job.request);
    this.#all.push(connection);
    return connection;
  }

  #tick(): void {
    const now = performance.now();
    while (this.#next < this.#total && this.#dueAt(this.#next) <= now) {
      this.#dispatch(this.#next, this.#dueAt(this.#next));
      this.#next++;
    }
    if (this.#next < this.#total) {
      this.#timer = setTimeout(() => this.#tick(), Math.max(0, this.#dueAt(this.#next) - performance.now()));
      return;
    }
    this.#timer = setTimeout(() => this.#settle(), this.#job.drainMs);
    this.#settleIfIdle();
  }

  #dueAt(index: number): number {
    return this.#start + index * this.#intervalMs;
  }

  #inWindow(index: number): boolean {
    return index >= this.#firstInWindow && index < this.#endOfWindow;
  }

  #dispatch(index: number, due: number): void {
    const free = this.#idle.shift() ?? (this.#all.length < this.#job.maxConnections ? this.#open() : undefined);
    if (free !== undefined) {
      if (this.#inWindow(index)) this.#lateness.push(performance.now() - due);
      this.#send(free, index, due);
    } else if (this.#waiting.length < this.#job.maxBacklog) {
      this.#waiting.push({ index, due });
    } else if (this.#inWindow(index)) {
      this.#skipped++;
    }
  }

  #send(connection: LoadConnection, index: number, due: number): void {
    const inWindow = this.#inWindow(index);
    this.#outstanding++;
    connection.send((status, error) => {
      if (this.#closed) return;
      const end = performance.now();
      this.#outstanding--;
      const ok = error === null && status >= 200 && status < 300;
      if (ok && end >= this.#start + this.#job.warmupMs && end < this.#start + this.#job.warmupMs + this.#job.durationMs) {
        this.#answeredInWindow++;
      }
      if (inWindow) this.#record(ok, end - due, status, error);
      const pending = this.#waiting.shift();
      if (pending === undefined) {
        this.#idle.push(connection);
        this.#settleIfIdle();
        return;
      }
      if (this.#inWindow(pending.index)) this.#connectionWaits.push(performance.now() - pending.due);
      this.#send(connection, pending.index, pending.due);
    });
  }

  #record(ok: boolean, latencyMs: number, status: number, error: Error | null): void {
    if (ok) {
      this.#answered++;
      this.#latencies.push(latencyMs);
      return;
    }
    this.#failed++;
    if (this.#errorSamples.length < ERROR_SAMPLES) this.#errorSamples.push(error?.message ?? `HTTP ${status}`);
  }

  #settleIfIdle(): void {
    if (this.#next >= this.#total && this.#outstanding === 0 && this.#waiting.length === 0) this.#settle();
  }

  #settle(): void {
    const settled = this.#onSettled;
    this.#onSettled = null;
    settled?.();
  }

  #unfinishedInWindow(): number {
    const due = this.#endOfWindow - this.#firstInWindow;
    return Math.max(0, due - this.#answered - this.#failed - this.#skipped);
  }

  #outcome(windowStart: number, windowEnd: number, unfinished: number): OpenLoopOutcome {
    const latencies = this.#latencies.sort((a, b) => a - b);
    const lateness = this.#lateness.sort((a, b) => a - b);
    const waits = this.#connectionWaits.sort((a, b) => a - b);
    const q = (sorted: readonly number[], p: number): number | null => quantileSorted(sorted, p);
    return {
      kind: 'open-loop',
      rate: this.#job.rate,
      due: this.#endOfWindow - this.#firstInWindow,
      answered: this.#answered,
      failed: this.#failed,
      unfinished,
      skipped: this.#skipped,
      achievedRate: this.#answeredInWindow / ((windowEnd - windowStart) / 1000),
      latency: {
        p50: q(latencies, 0.5),
        p90: q(latencies, 0.9),
        p99: q(latencies, 0.99),
        p999: q(latencies, 0.999),
        max: latencies.at(-1) ?? null,
      },
      lateness: { p50: q(lateness, 0.5), p99: q(lateness, 0.99), max: lateness.at(-1) ?? null },
      waitedForConnection: waits.length,
      connectionWaitP99: q(waits, 0.99),
      connectionsOpened: this.#all.length,
      errorSamples: this.#errorSamples,
    };
  }
}

export function runOpenLoop(job: OpenLoopJob, events: WindowEvents): Promise<OpenLoopOutcome> {
  return new OpenLoop(job, events).run();
}
