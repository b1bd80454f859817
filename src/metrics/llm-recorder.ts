import { type CompletionResult, OUTCOMES, type Outcome } from '../llm/completion-tracker.js';
import { DeferredCount } from './deferred-count.js';
import type { LlmMetrics } from './definitions.js';
import type { HistogramSeries } from './fast-histogram.js';

/**
 * The LLM metrics of one backend and one completion endpoint, bound at startup (the counters exported at 0
 * from then on, the histograms from their first observation). Counts are deferred
 * (DeferredCount): `flush()` runs before the registry is read.
 */
export class LlmRouteRecorder {
  readonly #ttft: HistogramSeries;
  readonly #tpot: HistogramSeries;
  readonly #throughput: HistogramSeries;
  readonly #promptTokens: DeferredCount;
  readonly #completionTokens: DeferredCount;
  readonly #requestPrompt: HistogramSeries;
  readonly #requestCompletion: HistogramSeries;
  readonly #estimated: DeferredCount;
  /** One count per outcome: a record keyed by the Outcome type, so an outcome without a series does not compile. */
  readonly #outcomes: Record<Outcome, DeferredCount>;

  constructor(metrics: LlmMetrics, url: string, endpoint: string) {
    this.#ttft = metrics.timeToFirstToken.labels(url, endpoint);
    this.#tpot = metrics.timePerOutputToken.labels(url, endpoint);
    this.#throughput = metrics.decodingThroughput.labels(url, endpoint);
    const promptTokens = metrics.promptTokens.labels(url, endpoint);
    const completionTokens = metrics.completionTokens.labels(url, endpoint);
    const estimated = metrics.usageEstimated.labels(url, endpoint);
    // The counters exist from startup at 0: rate() and increase() see the first request too. The histograms
    // appear with their first observation (a quantile over a window does not miss one sample).
    for (const counter of [promptTokens, completionTokens, estimated]) counter.inc(0);
    this.#promptTokens = new DeferredCount(promptTokens);
    this.#completionTokens = new DeferredCount(completionTokens);
    this.#estimated = new DeferredCount(estimated);
    const outcomes = {} as Record<Outcome, DeferredCount>;
    for (const outcome of OUTCOMES) {
      const child = metrics.streamOutcomes.labels(url, endpoint, outcome);
      child.inc(0);
      outcomes[outcome] = new DeferredCount(child);
    }
    this.#outcomes = outcomes;
    this.#requestPrompt = metrics.requestPromptTokens.labels(url, endpoint);
    this.#requestCompletion = metrics.requestCompletionTokens.labels(url, endpoint);
  }

  record(result: CompletionResult): void {
    this.#outcomes[result.outcome].add();
    if (result.promptTokens !== null) {
      this.#promptTokens.add(result.promptTokens);
      this.#requestPrompt.observe(result.promptTokens);
    }
    if (result.completionTokens !== null) {
      this.#completionTokens.add(result.completionTokens);
      this.#requestCompletion.observe(result.completionTokens);
    }
    if (result.usageEstimated) this.#estimated.add();
    if (result.ttftMs !== null) this.#ttft.observe(result.ttftMs / 1000);
    if (result.tpotMs !== null && result.tpotMs > 0) {
      this.#tpot.observe(result.tpotMs / 1000);
      this.#throughput.observe(1000 / result.tpotMs);
    }
  }

  /** Hands the deferred counts to prom-client. */
  flush(): void {
    this.#promptTokens.flush();
    this.#completionTokens.flush();
    this.#estimated.flush();
    for (const outcome of OUTCOMES) this.#outcomes[outcome].flush();
  }
}
