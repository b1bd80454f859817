import { ERROR_CATALOG, errorBody } from '../shared/error-catalog.js';
import type { PrimaryToWorker, WorkerToPrimary } from '../shared/ipc.js';

/** Longer than the primary's per-worker timeout, so the primary answers (with what it has) before we give up. */
const RELAY_TIMEOUT_MS = 8_000;

export interface ScrapeAnswer {
  status: number;
  contentType: string;
  body: string;
}

const UNAVAILABLE: ScrapeAnswer = {
  status: ERROR_CATALOG.metrics_unavailable.status,
  contentType: 'application/json',
  body: errorBody('metrics_unavailable', 'the primary did not answer the metrics request'),
};

/**
 * /metrics on a worker asks the primary, which merges every worker's registry (this one included)
 * and sends the text back, so a scrape sees the same totals whichever worker it lands on.
 * /dashboard/history comes the same way: only the primary samples the merged metrics.
 */
export class MetricsRelay {
  readonly #pending = new Map<number, (answer: ScrapeAnswer) => void>();
  readonly #send: (message: WorkerToPrimary) => boolean;
  #nextId = 1;

  /** `send` is false only when the channel is closed (see channelSender): then the answer is 503 at once. */
  constructor(send: (message: WorkerToPrimary) => boolean) {
    this.#send = send;
  }

  request(type: 'iproxy:scrape-req' | 'iproxy:history-req' = 'iproxy:scrape-req'): Promise<ScrapeAnswer> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        resolve(UNAVAILABLE);
      }, RELAY_TIMEOUT_MS);
      this.#pending.set(id, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      if (!this.#send({ type, id })) {
        this.#pending.get(id)?.(UNAVAILABLE);
        this.#pending.delete(id);
      }
    });
  }

  onAnswer(message: Extract<PrimaryToWorker, { type: 'iproxy:scrape-res' | 'iproxy:history-res' }>): void {
    const resolve = this.#pending.get(message.id);
    if (resolve === undefined) return;
    this.#pending.delete(message.id);
    resolve({ status: message.status, contentType: message.contentType, body: message.body });
  }
}
