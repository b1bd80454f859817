import type { CompletionResult } from '../llm/completion-tracker.js';
import { type LlmMetrics, OUTCOMES } from './definitions.js';

type Bound<T extends { labels: (...values: string[]) => unknown }> = ReturnType<T['labels']>;

/** The LLM metrics of one backend and one completion endpoint, bound at startup. */
export class LlmRouteRecorder {
  readonly #ttft: Bound<LlmMetrics['timeToFirstToken']>;
  readonly #tpot: Bound<LlmMetrics['timePerOutputToken']>;
  readonly #throughput: Bound<LlmMetrics['decodingThroughput']>;
  readonly #promptTokens: Bound<LlmMetrics['promptTokens']>;
  readonly #completionTokens: Bound<LlmMetrics['completionTokens']>;
  readonly #requestPrompt: Bound<LlmMetrics['requestPromptTokens']>;
  readonly #requestCompletion: Bound<LlmMetrics['requestCompletionTokens']>;
  readonly #estimated: Bound<LlmMetrics['usageEstimated']>;
  readonly #outcomes: Map<string, Bound<LlmMetrics['streamOutcomes']>>;

  constructor(metrics: LlmMetrics, url: string, endpoint: string) {
    this.#ttft = metrics.timeToFirstToken.labels(url, endpoint);
    this.#tpot = metrics.timePerOutputToken.labels(url, endpoint);
    this.#throughput = metrics.decodingThroughput.labels(url, endpoint);
    this.#promptTokens = metrics.promptTokens.labels(url, endpoint);
    this.#completionTokens = metrics.completionTokens.labels(url, endpoint);
    this.#requestPrompt = metrics.requestPromptTokens.labels(url, endpoint);
    this.#requestCompletion = metrics.requestCompletionTokens.labels(url, endpoint);
    this.#estimated = metrics.usageEstimated.labels(url, endpoint);
    this.#outcomes = new Map(OUTCOMES.map((outcome) => [outcome, metrics.streamOutcomes.labels(url, endpoint, outcome)]));
    // Every series exists from startup at 0: rate() and increase() see the first request too.
    for (const outcome of this.#outcomes.values()) outcome.inc(0);
    for (const counter of [this.#promptTokens, this.#completionTokens, this.#estimated]) counter.inc(0);
    const labels = { url, endpoint };
    for (const histogram of [
      metrics.timeToFirstToken,
      metrics.timePerOutputToken,
      metrics.decodingThroughput,
      metrics.requestPromptTokens,
      metrics.requestCompletionTokens,
    ]) {
      histogram.zero(labels);
    }
  }

  record(result: CompletionResult): void {
    this.#outcomes.get(result.outcome)?.inc();
    if (result.promptTokens !== null) {
      this.#promptTokens.inc(result.promptTokens);
      this.#requestPrompt.observe(result.promptTokens);
    }
    if (result.completionTokens !== null) {
      this.#completionTokens.inc(result.completionTokens);
      this.#requestCompletion.observe(result.completionTokens);
    }
    if (result.usageEstimated) this.#estimated.inc();
    if (result.ttftMs !== null) this.#ttft.observe(result.ttftMs / 1000);
    if (result.tpotMs !== null && result.tpotMs > 0) {
      this.#tpot.observe(result.tpotMs / 1000);
      this.#throughput.observe(1000 / result.tpotMs);
    }
  }
}
