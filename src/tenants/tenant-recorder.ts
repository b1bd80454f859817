import type { CompletionResult } from '../llm/completion-tracker.js';
import { DeferredCount } from '../metrics/deferred-count.js';
import type { TenantWorkerMetrics } from '../metrics/tenant-metrics.js';
import { LIMIT_NAMES, type LimitName } from './tenant-types.js';

/**
 * One key's metrics in a worker, bound at startup: every series but the per-status one exists from the
 * start at 0 (so increase() sees the first rejection), and counts are deferred to the next read.
 */
export class TenantRecorder {
  readonly #metrics: TenantWorkerMetrics;
  readonly #name: string;
  readonly #statuses = new Map<number, DeferredCount>();
  readonly #prompt: DeferredCount;
  readonly #completion: DeferredCount;
  readonly #rejected: Record<LimitName, DeferredCount>;

  constructor(metrics: TenantWorkerMetrics, name: string) {
    this.#metrics = metrics;
    this.#name = name;
    const prompt = metrics.tokens.labels(name, 'prompt');
    const completion = metrics.tokens.labels(name, 'completion');
    prompt.inc(0);
    completion.inc(0);
    this.#prompt = new DeferredCount(prompt);
    this.#completion = new DeferredCount(completion);
    const rejected = {} as Record<LimitName, DeferredCount>;
    for (const limit of LIMIT_NAMES) {
      const child = metrics.rejected.labels(name, limit);
      child.inc(0);
      rejected[limit] = new DeferredCount(child);
    }
    this.#rejected = rejected;
  }

  ended(status: number, result: CompletionResult | null): void {
    let count = this.#statuses.get(status);
    if (count === undefined) {
      count = new DeferredCount(this.#metrics.requests.labels(this.#name, String(status)));
      this.#statuses.set(status, count);
    }
    count.add();
    if (result === null) return;
    if (result.promptTokens !== null) this.#prompt.add(result.promptTokens);
    if (result.completionTokens !== null) this.#completion.add(result.completionTokens);
  }

  rejected(limit: LimitName): void {
    this.#rejected[limit].add();
  }

  flush(): void {
    for (const count of this.#statuses.values()) count.flush();
    this.#prompt.flush();
    this.#completion.flush();
    for (const limit of LIMIT_NAMES) this.#rejected[limit].flush();
  }
}
