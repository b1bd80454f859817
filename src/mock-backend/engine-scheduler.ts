/**
 * The simulated engine's scheduler: at most `maxNumSeqs` sequences run at once (in prefill or decode, as
 * vLLM's --max-num-seqs counts them), the others wait in a queue; a sequence also needs room in the KV
 * cache. The cache is counted in blocks of KV_BLOCK_TOKENS tokens, and a sequence reserves its whole
 * length (prompt + n × max_tokens) when it is admitted, as TGI does, so that no running sequence is ever
 * preempted; vllm:kv_cache_usage_perc is then the share of blocks reserved by the running sequences.
 * The head of the queue goes first: a head that does not fit blocks those behind it (vLLM's FCFS).
 */
export interface EngineOptions {
  /** Sequences running at once; 0 or absent: no limit. */
  readonly maxNumSeqs?: number;
  /** KV cache capacity in tokens; 0 or absent: DEFAULT_KV_TOKENS_PER_SEQ per slot (no limit with no slot limit). */
  readonly kvCacheTokens?: number;
  /** `fcfs`: arrival order; `priority`: lower `priority` first, then arrival (vLLM's --scheduling-policy; no preemption). */
  readonly schedulingPolicy?: SchedulingPolicy;
}

export type SchedulingPolicy = 'fcfs' | 'priority';

/** vLLM's default block size, in tokens. */
export const KV_BLOCK_TOKENS = 16;
/** KV capacity per slot when none is given: room for a 2,048-token sequence in every slot. */
const DEFAULT_KV_TOKENS_PER_SEQ = 2_048;
/** Queue lengths from 0 to this are timed one by one; longer ones share the last entry. */
export const WAITING_TIME_BUCKETS = 64;

/**
 * What the scheduler did, for /metrics, /mock/stats and the benchmarks. The time integrals (ms) let a
 * reader take two snapshots and compute the mean queue length and the slot use between them exactly.
 */
export interface EngineStats {
  /** Sequences holding a slot now. */
  running: number;
  /** Sequences waiting for a slot now. */
  waiting: number;
  /** The slot limit; 0: none. */
  maxNumSeqs: number;
  /** KV blocks reserved now, and the capacity (0: no limit). */
  kvBlocksUsed: number;
  kvBlocks: number;
  /** Sequences that got a slot, since the start. */
  admitted: number;
  /** ∫ running dt and ∫ waiting dt, ms × sequences. */
  runningMs: number;
  waitingMs: number;
  /** Time spent at each queue length, ms: entry k for k waiting (the last one for WAITING_TIME_BUCKETS or more). */
  waitingTimeMs: number[];
}

export function emptyEngineStats(): EngineStats {
  return {
    running: 0,
    waiting: 0,
    maxNumSeqs: 0,
    kvBlocksUsed: 0,
    kvBlocks: 0,
    admitted: 0,
    runningMs: 0,
    waitingMs: 0,
    waitingTimeMs: new Array<number>(WAITING_TIME_BUCKETS + 1).fill(0),
  };
}

/** One sequence asking for a slot: its whole length in tokens and its priority (lower first under `priority`). */
export interface SequenceRequest {
  readonly tokens: number;
  readonly priority: number;
}

interface Waiter {
  readonly blocks: number;
  readonly priority: number;
  readonly order: number;
  readonly granted: () => void;
}

export class EngineScheduler {
  readonly #maxNumSeqs: number;
  readonly #kvBlocks: number;
  readonly #policy: SchedulingPolicy;
  readonly #stats: EngineStats;
  readonly #queue: Waiter[] = [];
  readonly #now: () => number;
  #order = 0;
  #lastMs: number;

  /** `now`: the clock of the time integrals, ms (performance.now; a test may give its own). */
  constructor(options: EngineOptions, stats: EngineStats, now: () => number = () => performance.now()) {
    this.#now = now;
    this.#lastMs = now();
    const slots = options.maxNumSeqs ?? 0;
    const kvTokens = options.kvCacheTokens || slots * DEFAULT_KV_TOKENS_PER_SEQ;
    this.#maxNumSeqs = slots > 0 ? slots : Number.POSITIVE_INFINITY;
    this.#kvBlocks = kvTokens > 0 ? Math.floor(kvTokens / KV_BLOCK_TOKENS) : Number.POSITIVE_INFINITY;
    this.#policy = options.schedulingPolicy ?? 'fcfs';
    this.#stats = stats;
    stats.maxNumSeqs = slots;
    stats.kvBlocks = Number.isFinite(this.#kvBlocks) ? this.#kvBlocks : 0;
  }

  get policy(): SchedulingPolicy {
    return this.#policy;
  }

  /** The longest sequence the cache can ever hold, in tokens; Infinity without a limit. */
  get maxTokens(): number {
    return this.#kvBlocks * KV_BLOCK_TOKENS;
  }

  /** Share of the KV cache reserved now, 0 to 1 (0 without a limit). */
  kvUsage(): number {
    return Number.isFinite(this.#kvBlocks) ? this.#stats.kvBlocksUsed / this.#kvBlocks : 0;
  }

  /**
   * Queues `request` and calls `granted` once it holds a slot (at once if it fits now). The returned
   * function gives the slot back, or leaves the queue if it is still waiting; calling it again does nothing.
   * A sequence longer than the cache would wait for ever: the caller refuses it first (see maxTokens).
   */
  admit(request: SequenceRequest, granted: () => void): () => void {
    let state: 'waiting' | 'running' | 'done' = 'waiting';
    const waiter: Waiter = {
      blocks: Math.ceil(request.tokens / KV_BLOCK_TOKENS),
      priority: request.priority,
      order: this.#order++,
      granted: () => {
        state = 'running';
        granted();
      },
    };
    this.#advance();
    this.#queue.push(waiter);
    this.#stats.waiting++;
    this.#schedule();
    return () => {
      if (state === 'done') return;
      this.#advance();
      if (state === 'waiting') {
        this.#queue.splice(this.#queue.indexOf(waiter), 1);
        this.#stats.waiting--;
      } else {
        this.#stats.running--;
        this.#stats.kvBlocksUsed -= waiter.blocks;
      }
      state = 'done';
      this.#schedule();
    };
  }

  /** Brings the time integrals up to now (call before reading them). */
  refresh(): EngineStats {
    this.#advance();
    return this.#stats;
  }

  /** Starts waiters from the head while they fit: a slot free and their blocks free. */
  #schedule(): void {
    const stats = this.#stats;
    while (this.#queue.length > 0 && stats.running < this.#maxNumSeqs) {
      const at = this.#headIndex();
      const head = this.#queue[at] as Waiter;
      if (stats.kvBlocksUsed + head.blocks > this.#kvBlocks) return;
      this.#queue.splice(at, 1);
      stats.waiting--;
      stats.running++;
      stats.kvBlocksUsed += head.blocks;
      stats.admitted++;
      head.granted();
    }
  }

  #headIndex(): number {
    if (this.#policy === 'fcfs') return 0;
    let best = 0;
    for (let i = 1; i < this.#queue.length; i++) {
      const candidate = this.#queue[i] as Waiter;
      const current = this.#queue[best] as Waiter;
      if (candidate.priority < current.priority || (candidate.priority === current.priority && candidate.order < current.order)) best = i;
    }
    return best;
  }

  #advance(): void {
    const now = this.#now();
    const elapsed = now - this.#lastMs;
    this.#lastMs = now;
    if (elapsed <= 0) return;
    const stats = this.#stats;
    stats.runningMs += stats.running * elapsed;
    stats.waitingMs += stats.waiting * elapsed;
    const bucket = Math.min(stats.waiting, WAITING_TIME_BUCKETS);
    stats.waitingTimeMs[bucket] = (stats.waitingTimeMs[bucket] as number) + elapsed;
  }
}
