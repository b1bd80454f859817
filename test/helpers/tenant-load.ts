/**
 * Load of one key against a running proxy, for the shared-limit tests: `clients` loops sending
 * non-streamed chats back to back; a 429 makes the loop pause (as a client honouring Retry-After would,
 * shorter). Every request is a bounded call() that never throws. Each answer is recorded with the time it
 * was sent and the tokens the backend reported, so a test can add up what was admitted in a window.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from 'undici';
import { call, chatBody } from './http.js';

const PAUSE_AFTER_429_MS = 50;

export interface Answer {
  /** When the request was sent, performance.now() ms. */
  readonly sentAt: number;
  readonly status: number;
  /** prompt + completion tokens of a 200 (0 otherwise). */
  readonly tokens: number;
  readonly error: string | null;
  /** From sending to the end of the answer, ms. */
  readonly ms: number;
}

export interface KeyLoad {
  readonly answers: Answer[];
  stop(): Promise<void>;
}

export function keyLoad(url: string, key: string, clients: number, body = chatBody({ max_tokens: 150 })): KeyLoad {
  const answers: Answer[] = [];
  let stopping = false;
  const loop = async (): Promise<void> => {
    const dispatcher = new Agent({ connections: 1, keepAliveTimeout: 30_000 });
    try {
      while (!stopping) {
        const sentAt = performance.now();
        const res = await call(`${url}/v1/chat/completions`, {
          body,
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          dispatcher,
          timeoutMs: 10_000,
        });
        let tokens = 0;
        if (res.status === 200) {
          const usage = (JSON.parse(res.text) as { usage?: { prompt_tokens: number; completion_tokens: number } }).usage;
          tokens = (usage?.prompt_tokens ?? 0) + (usage?.completion_tokens ?? 0);
        }
        answers.push({ sentAt, status: res.status, tokens, error: res.error, ms: res.ms });
        if (res.status !== 200) await sleep(PAUSE_AFTER_429_MS);
      }
    } finally {
      await dispatcher.destroy().catch(() => undefined);
    }
  };
  const loops = Array.from({ length: clients }, loop);
  return {
    answers,
    async stop() {
      stopping = true;
      await Promise.all(loops);
    },
  };
}

/** Tokens of the 200s sent in [from, to). */
export function admittedTokens(answers: readonly Answer[], from: number, to: number): number {
  return answers.filter((a) => a.status === 200 && a.sentAt >= from && a.sentAt < to).reduce((sum, a) => sum + a.tokens, 0);
}

/** Statuses seen, as {"200": n, "429": m, ...}; a request with no answer counts under its error. */
export function statusCounts(answers: readonly Answer[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const answer of answers) {
    const label = answer.status === 0 ? `error ${answer.error}` : String(answer.status);
    out[label] = (out[label] ?? 0) + 1;
  }
  return out;
}

/** A YAML config file in a temporary directory (removed when the test ends); returns its path and a rewriter. */
export function configFile(t: TestContext, text: string): { path: string; write(text: string): void } {
  const dir = mkdtempSync(join(tmpdir(), 'iproxy-tenants-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'proxy.yaml');
  writeFileSync(path, text);
  return { path, write: (next) => writeFileSync(path, next) };
}
