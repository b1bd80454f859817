import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { CompletionPlan } from './completion-request.js';
import type { MockExchange, MockSwitches } from './mock-types.js';
import type { SseFormat } from './sse-format.js';
import { createSseFormat } from './sse-format.js';

export interface MockStreamInit {
  readonly exchange: MockExchange;
  readonly plan: CompletionPlan;
  readonly switches: MockSwitches;
  readonly id: string;
  readonly createdSec: number;
}

// A timer due in less than this is treated as due: Node would round it up to 1 ms anyway.
const TIMER_RESOLUTION_MS = 1;

/** Sends the headers now and the events on schedule; stops when the response closes or the backend shuts down. */
export function startMockStream(init: MockStreamInit): void {
  const { res } = init.exchange;
  if (!res.headersSent) sendStreamHead(res);
  const stream = new MockStream(init);
  init.exchange.onStop(() => stream.stop());
  stream.advance();
}

/** Headers go out before the first token, so a client can tell "accepted" from "generating". */
export function sendStreamHead(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.flushHeaders();
}

/**
 * One stream, one timer at a time. Due times are computed from the start rather than from the previous
 * event, so a late timer under load does not push every later token back.
 */
class MockStream {
  readonly #exchange: MockExchange;
  readonly #plan: CompletionPlan;
  readonly #switches: MockSwitches;
  readonly #format: SseFormat;
  readonly #startMs = performance.now();
  #timer: NodeJS.Timeout | undefined;
  #commentsSent = 0;
  #roleSent = false;
  #step = 0;
  #stopped = false;

  constructor(init: MockStreamInit) {
    this.#exchange = init.exchange;
    this.#plan = init.plan;
    this.#switches = init.switches;
    this.#format = createSseFormat({
      kind: init.plan.kind,
      id: init.id,
      createdSec: init.createdSec,
      model: init.plan.model,
      includeUsage: init.plan.includeUsage,
      crlf: init.switches.crlf,
    });
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  readonly advance = (): void => {
    this.#timer = undefined;
    const { res } = this.#exchange;
    while (!this.#stopped) {
      const waitMs = this.#dueMs() - performance.now();
      if (waitMs >= TIMER_RESOLUTION_MS) {
        // Whole milliseconds: Node keeps one timer list per distinct duration, fractions would make thousands.
        this.#timer = setTimeout(this.advance, Math.ceil(waitMs));
        return;
      }
      // With no delay, tokens are written back to back; a slow reader must still hold them back.
      if (res.writableNeedDrain) {
        res.once('drain', this.advance);
        return;
      }
      this.#act();
    }
  };

  #dueMs(): number {
    const { ttftMs, tokenDelayMs, keepAliveComments } = this.#switches;
    if (this.#commentsSent < keepAliveComments) {
      return this.#startMs + (ttftMs * (this.#commentsSent + 1)) / (keepAliveComments + 1);
    }
    // The finish chunk goes out right after the last token, as vLLM sends it with the last token.
    const step = Math.min(this.#step, this.#plan.maxTokens - 1);
    return this.#startMs + ttftMs + step * tokenDelayMs;
  }

  #act(): void {
    if (this.#commentsSent < this.#switches.keepAliveComments) {
      this.#commentsSent++;
      this.#write(this.#format.comment);
      return;
    }
    if (!this.#roleSent) {
      if (this.#switches.crashInPrefill) {
        this.stop();
        this.#exchange.crash();
        return;
      }
      this.#roleSent = true;
      if (this.#plan.kind === 'chat') this.#eachChoice((index) => this.#format.role(index));
    }
    if (this.#interrupt()) return;
    if (this.#step === this.#plan.maxTokens) {
      this.#finish();
      return;
    }
    const step = this.#step++;
    this.#eachChoice((index) => this.#format.token(index, step));
  }

  /** Applies the failure switches due at the current step; true when the stream is over. */
  #interrupt(): boolean {
    const { crashAfter, inbandErrorAfter, silentAfter } = this.#switches;
    const step = this.#step;
    if (step !== crashAfter && step !== inbandErrorAfter && step !== silentAfter) return false;
    this.stop();
    if (step === crashAfter) {
      this.#exchange.crash();
    } else if (step === inbandErrorAfter) {
      this.#write(this.#format.error);
      this.#write(this.#format.done);
      this.#exchange.res.end();
    }
    return true;
  }

  #finish(): void {
    const { n, maxTokens, promptTokens, includeUsage } = this.#plan;
    const completionTokens = n * maxTokens;
    this.stop();
    this.#eachChoice((index) => this.#format.finish(index));
    if (includeUsage) this.#write(this.#format.usage(promptTokens, completionTokens));
    this.#write(this.#format.done);
    this.#exchange.stats.promptTokens += promptTokens;
    this.#exchange.stats.completionTokens += completionTokens;
    this.#exchange.res.end();
  }

  #eachChoice(event: (index: number) => string): void {
    for (let index = 0; index < this.#plan.n; index++) this.#write(event(index));
  }

  /** Each event is its own write, so token spacing stays observable through a proxy. */
  #write(text: string): void {
    const { res } = this.#exchange;
    if (!this.#switches.splitBytes) {
      res.write(text);
      return;
    }
    const bytes = Buffer.from(text);
    // Corked around each write, each byte is its own chunk on every Node: Node 24 holds the chunked writes
    // made while a response is corked (as it is until the next tick after a write) and frames them as one
    // chunk on uncork; Node 20 framed each write.
    for (let offset = 0; offset < bytes.length; offset++) {
      res.cork();
      res.write(bytes.subarray(offset, offset + 1));
      res.uncork();
    }
  }
}
