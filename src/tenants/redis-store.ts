import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Counter } from 'prom-client';
import type { Logger } from '../shared/logger.js';
import { periodEnd, periodOf } from './budget-period.js';
import type { RateView } from './gcra.js';
import type { LimitStore } from './limit-store.js';
import { budgetMessage, LocalLimiter, PARALLEL_RETRY_MS, rateMessage } from './local-limiter.js';
import { budgetedNames } from './local-store.js';
import { GIVE_SCRIPT, TAKE_SCRIPT } from './redis-scripts.js';
import type { TenantKey, TenantLimits } from './tenant-types.js';
import { type LimitsView, NO_VIEW, type Ticket, type Verdict } from './verdict.js';

/**
 * An instance leases this share of a limit at a time and spends it without asking Redis again: the
 * worst case over-admission over all instances is what they hold unspent at once, at most one lease plus
 * one request's reservation each (README, "Tenants").
 */
export const LEASE_FRACTION = 0.05;
/** Unspent units go back to Redis this long after they were leased (so an idle instance holds nothing). */
export const LEASE_TTL_MS = 1_000;
const LEASE_CHECK_MS = 250;
/** An instance's max_parallel slots expire this long after its last call: a dead instance frees them. */
const HOLD_TTL_MS = 10_000;
/** After a failure, Redis is tried again after this long (and once the client has reconnected). */
const RETRY_AFTER_FAILURE_MS = 1_000;
/** At startup the primary waits this long for the connection before serving (degraded if it has none). */
const CONNECT_WAIT_MS = 3_000;

export interface RedisStoreOptions {
  readonly url: string;
  readonly timeoutMs: number;
  readonly failure: 'open' | 'closed';
}

type ScriptedRedis = Redis & {
  iproxyTake(...args: Array<string | number>): Promise<number[]>;
  iproxyGive(...args: Array<string | number>): Promise<number>;
};

/** One key's shared limits as this instance holds them: units leased from Redis and not spent yet. */
interface Shared {
  limits: TenantLimits;
  /** The hash tag every key of this key's limits shares: `{iproxy:<name>}`. */
  readonly prefix: string;
  requests: number;
  tokens: number;
  budget: number;
  budgetPeriod: number;
  slotsHeld: number;
  slotsUsed: number;
  /** When the units now held were leased (Date.now()); 0 when none are. */
  leasedAt: number;
  lastCallAt: number;
  pending: Promise<unknown> | null;
  /** What Redis said at the last call, for the headers between calls. */
  remote: { requests: RateView | null; tokens: RateView | null; budgetLeft: number | null; at: number };
}

interface SharedTicket extends Ticket {
  readonly fallback: boolean;
}

/**
 * With --redis-url: every key's limits are shared by the instances that use the same Redis. Each
 * instance (its primary, for all its workers) leases units in chunks with one atomic script call
 * (redis-scripts.ts) and spends them locally; refunds and usage beyond a reservation are settled into the
 * local allowance, and whatever is left goes back after LEASE_TTL_MS. When Redis fails or is slower than
 * --redis-timeout, `open` falls back to the limits of this instance alone (a LocalLimiter), `closed`
 * answers 503; the client reconnects by itself and sharing resumes on the next successful call.
 */
export class RedisStore implements LimitStore {
  readonly #client: ScriptedRedis;
  readonly #options: RedisStoreOptions;
  readonly #log: Logger;
  readonly #errors: Counter;
  readonly #instance = randomUUID();
  readonly #shared = new Map<string, Shared>();
  readonly #fallback: LocalLimiter;
  #budgeted: readonly string[] = [];
  #degraded = false;
  #retryAt = 0;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(keys: readonly TenantKey[], options: RedisStoreOptions, log: Logger, errors: Counter) {
    this.#options = options;
    this.#log = log;
    this.#errors = errors;
    this.#fallback = new LocalLimiter(keys);
    this.#client = new Redis(options.url, {
      // A command never waits for a connection: without one it fails at once and the fallback decides.
      enableOfflineQueue: false,
      commandTimeout: options.timeoutMs,
      maxRetriesPerRequest: 0,
      connectTimeout: Math.max(1_000, options.timeoutMs),
      retryStrategy: (times) => Math.min(100 * times, 2_000),
    }) as ScriptedRedis;
    this.#client.on('error', (err: Error) => log.debug({ err }, 'redis connection error'));
    this.#client.defineCommand('iproxyTake', { numberOfKeys: 4, lua: TAKE_SCRIPT });
    this.#client.defineCommand('iproxyGive', { numberOfKeys: 4, lua: GIVE_SCRIPT });
    this.reconfigure(keys);
  }

  /** True while the limits are shared: connected, and the last call succeeded. */
  get shared(): boolean {
    return !this.#degraded && this.#client.status === 'ready';
  }

  /** Waits (bounded) for the first connection, so that the first requests are shared. */
  async start(): Promise<void> {
    if (this.#client.status === 'ready') return;
    const ready = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), CONNECT_WAIT_MS);
      this.#client.once('ready', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (ready) this.#log.info({ redis: redactedUrl(this.#options.url) }, 'shared rate limits: connected to redis');
    else this.#failed(new Error('no connection to redis at startup'), false);
  }

  admit(tenant: string, tokens: number): Verdict | null | Promise<Verdict | null> {
    const shared = this.#shared.get(tenant);
    if (shared === undefined) return { ok: true, view: NO_VIEW, ticket: { tenant, tokens: 0, period: null, parallel: false } };
    // One lease at a time per key: the others wait for it and then spend from it.
    if (shared.pending !== null) return shared.pending.then(() => this.admit(tenant, tokens));
    const now = Date.now();
    this.#rollPeriod(shared, now);
    if (this.#covers(shared, tokens)) return this.#spend(shared, tenant, tokens, now);
    if (this.#degraded && (this.#client.status !== 'ready' || performance.now() < this.#retryAt)) {
      this.#errors.inc();
      return this.#fallbackAdmit(tenant, tokens);
    }
    const lease = this.#lease(shared, tenant, tokens, now);
    shared.pending = lease.finally(() => {
      shared.pending = null;
    });
    return lease;
  }

  settle(ticket: Ticket, used: number): void {
    if ((ticket as SharedTicket).fallback) {
      this.#fallback.settle(ticket, used, Date.now());
      return;
    }
    const shared = this.#shared.get(ticket.tenant);
    if (shared === undefined) return;
    if (ticket.parallel && shared.slotsUsed > 0) shared.slotsUsed--;
    const delta = used - ticket.tokens;
    if (shared.limits.tokens !== null) shared.tokens -= delta;
    if (shared.limits.budget !== null && ticket.period === shared.budgetPeriod) shared.budget -= delta;
    this.#arm();
  }

  *budgets(): Iterable<[string, number]> {
    const now = Date.now();
    for (const name of this.#budgeted) {
      const shared = this.#shared.get(name);
      if (shared === undefined) continue;
      const left = this.#degraded ? this.#fallback.budgetLeft(name, now) : shared.remote.budgetLeft;
      yield [name, Math.max(0, (left ?? shared.limits.budget?.tokens ?? 0) + (this.#degraded ? 0 : Math.max(0, shared.budget)))];
    }
  }

  reconfigure(keys: readonly TenantKey[]): void {
    const names = new Set(keys.map((key) => key.name));
    for (const [name, shared] of this.#shared) {
      if (names.has(name)) continue;
      void this.#giveBack(shared, true);
      this.#shared.delete(name);
    }
    for (const key of keys) {
      const shared = this.#shared.get(key.name);
      if (shared !== undefined) {
        // Units leased under the old limits go back; the new ones lease afresh.
        void this.#giveBack(shared, true);
        shared.limits = key.limits;
      } else {
        this.#shared.set(key.name, newShared(key));
      }
    }
    this.#fallback.reconfigure(keys);
    this.#budgeted = budgetedNames(keys);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    // Unspent leases go back, so that a restart loses nothing of the limits it held.
    const gives = [...this.#shared.values()].map((shared) => this.#giveBack(shared, true));
    await Promise.allSettled(gives);
    await Promise.race([
      this.#client.quit().catch(() => undefined),
      new Promise((resolve) => setTimeout(resolve, this.#options.timeoutMs * 4)),
    ]);
    this.#client.disconnect();
  }

  #rollPeriod(shared: Shared, now: number): void {
    const budget = shared.limits.budget;
    if (budget === null) return;
    const period = periodOf(budget, now);
    if (period === shared.budgetPeriod) return;
    // Units leased from the old period belong to it; the new one starts with none held here.
    shared.budgetPeriod = period;
    shared.budget = 0;
    shared.remote.budgetLeft = null;
  }

  #covers(shared: Shared, tokens: number): boolean {
    const { limits } = shared;
    return (
      (limits.requests === null || shared.requests >= 1) &&
      (limits.tokens === null || shared.tokens >= tokens) &&
      (limits.budget === null || shared.budget >= tokens) &&
      (limits.parallel === null || shared.slotsHeld > shared.slotsUsed)
    );
  }

  #spend(shared: Shared, tenant: string, tokens: number, now: number): Verdict {
    const { limits } = shared;
    if (limits.requests !== null) shared.requests -= 1;
    if (limits.tokens !== null) shared.tokens -= tokens;
    if (limits.budget !== null) shared.budget -= tokens;
    const parallel = limits.parallel !== null;
    if (parallel) shared.slotsUsed++;
    const ticket: SharedTicket = { tenant, tokens, period: limits.budget === null ? null : shared.budgetPeriod, parallel, fallback: false };
    return { ok: true, view: this.#view(shared, now), ticket };
  }

  async #lease(shared: Shared, tenant: string, tokens: number, now: number): Promise<Verdict | null> {
    const { limits } = shared;
    const rate = (rateLimit: { amount: number; perMs: number } | null, held: number, need: number): number[] => {
      if (rateLimit === null) return [0, 0, 0, 0];
      const short = Math.max(0, need - held);
      return short === 0
        ? [0, 0, rateLimit.amount, rateLimit.perMs]
        : [short + chunk(rateLimit.amount), short, rateLimit.amount, rateLimit.perMs];
    };
    const budget = limits.budget;
    const budgetShort = budget === null ? 0 : Math.max(0, tokens - shared.budget);
    const slotShort = limits.parallel !== null && shared.slotsHeld <= shared.slotsUsed ? 1 : 0;
    const args = [
      this.#instance,
      HOLD_TTL_MS,
      ...rate(limits.requests, shared.requests, 1),
      ...rate(limits.tokens, shared.tokens, tokens),
      budgetShort === 0 ? 0 : budgetShort + chunk(budget?.tokens ?? 0),
      budgetShort,
      budget?.tokens ?? 0,
      budget === null ? 0 : periodEnd(budget, now) + 86_400_000,
      slotShort,
      slotShort,
      limits.parallel ?? 0,
      shared.slotsHeld,
    ];
    let result: number[];
    try {
      result = await this.#client.iproxyTake(...redisKeys(shared), ...args);
    } catch (err) {
      this.#failed(err as Error, true);
      return this.#fallbackAdmit(tenant, tokens);
    }
    this.#recovered();
    const at = Date.now();
    shared.lastCallAt = at;
    shared.requests += result[3] ?? 0;
    shared.tokens += result[6] ?? 0;
    shared.budget += result[9] ?? 0;
    shared.slotsHeld += result[11] ?? 0;
    if (shared.leasedAt === 0 && ((result[3] ?? 0) > 0 || (result[6] ?? 0) > 0 || (result[9] ?? 0) > 0 || (result[11] ?? 0) > 0)) {
      shared.leasedAt = at;
    }
    shared.remote = {
      requests: limits.requests === null ? null : { limit: limits.requests.amount, remaining: result[4] ?? 0, resetMs: result[5] ?? 0 },
      tokens: limits.tokens === null ? null : { limit: limits.tokens.amount, remaining: result[7] ?? 0, resetMs: result[8] ?? 0 },
      budgetLeft: budget === null ? null : (result[10] ?? 0),
      at,
    };
    this.#arm();
    if (result[0] === 1) return this.#spend(shared, tenant, tokens, at);
    return this.#refusal(shared, result[1] ?? 0, result[2] ?? -1, tokens, at);
  }

  #refusal(shared: Shared, failed: number, retry: number, tokens: number, now: number): Verdict {
    const view = this.#view(shared, now);
    const { limits } = shared;
    if (failed === 1)
      return {
        ok: false,
        limit: 'rpm',
        retryAfterMs: retry < 0 ? null : retry,
        view,
        message: rateMessage('requests', limits.requests, 1),
      };
    if (failed === 2)
      return {
        ok: false,
        limit: 'tpm',
        retryAfterMs: retry < 0 ? null : retry,
        view,
        message: rateMessage('tokens', limits.tokens, tokens),
      };
    if (failed === 3) {
      const budget = limits.budget as NonNullable<TenantLimits['budget']>;
      const end = periodEnd(budget, now);
      const left = (shared.remote.budgetLeft ?? 0) + Math.max(0, shared.budget);
      return {
        ok: false,
        limit: 'budget',
        retryAfterMs: retry === -1 ? null : end - now,
        view,
        message: budgetMessage(left, budget.tokens, tokens, end),
      };
    }
    return {
      ok: false,
      limit: 'parallel',
      retryAfterMs: PARALLEL_RETRY_MS,
      view,
      message: `the key has ${limits.parallel} requests in progress, its max_parallel`,
    };
  }

  #view(shared: Shared, now: number): LimitsView {
    const { remote } = shared;
    const since = now - remote.at;
    const rate = (view: RateView | null, held: number): RateView | null =>
      view === null
        ? null
        : {
            limit: view.limit,
            remaining: Math.min(view.limit, Math.max(0, view.remaining + held)),
            resetMs: Math.max(0, view.resetMs - since),
          };
    return {
      requests: rate(remote.requests, shared.requests),
      tokens: rate(remote.tokens, shared.tokens),
      budgetLeft: remote.budgetLeft === null ? null : Math.max(0, remote.budgetLeft + shared.budget),
    };
  }

  #fallbackAdmit(tenant: string, tokens: number): Verdict | null {
    if (this.#options.failure === 'closed') return null;
    const verdict = this.#fallback.admit(tenant, tokens, Date.now());
    return verdict.ok ? { ...verdict, ticket: { ...verdict.ticket, fallback: true } as SharedTicket } : verdict;
  }

  #failed(err: Error, count: boolean): void {
    if (count) this.#errors.inc();
    this.#retryAt = performance.now() + RETRY_AFTER_FAILURE_MS;
    if (this.#degraded) return;
    this.#degraded = true;
    const fallback = this.#options.failure === 'open' ? 'per-instance limits' : '503 for requests that need it';
    this.#log.warn(
      { err, redis: redactedUrl(this.#options.url), timeoutMs: this.#options.timeoutMs, fallback },
      'shared rate limits unavailable',
    );
  }

  #recovered(): void {
    if (!this.#degraded) return;
    this.#degraded = false;
    this.#log.info({ redis: redactedUrl(this.#options.url) }, 'shared rate limits resumed');
  }

  /** The lease check runs only while some key holds something (an idle proxy does no work). */
  #arm(): void {
    if (this.#timer !== null || this.#closed) return;
    this.#timer = setInterval(this.#check, LEASE_CHECK_MS);
    this.#timer.unref();
  }

  readonly #check = (): void => {
    const now = Date.now();
    let holding = false;
    for (const shared of this.#shared.values()) {
      if (shared.pending === null && (held(shared) || shared.slotsUsed > 0)) {
        const stale = shared.leasedAt !== 0 && now - shared.leasedAt >= LEASE_TTL_MS;
        // Slots in use keep their holding alive in Redis (it expires after HOLD_TTL_MS without a call).
        const heartbeat = shared.slotsUsed > 0 && now - shared.lastCallAt >= HOLD_TTL_MS / 3;
        if (stale || heartbeat) void this.#giveBack(shared, stale);
      }
      if (held(shared) || shared.slotsUsed > 0) holding = true;
    }
    if (!holding && this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  };

  /** Gives back what is held unspent (or charges what is owed), and renews this instance's slot holding. */
  async #giveBack(shared: Shared, returnUnits: boolean): Promise<void> {
    const { limits } = shared;
    const units = returnUnits ? [shared.requests, shared.tokens, shared.budget] : [0, 0, 0];
    if (returnUnits) {
      shared.requests = 0;
      shared.tokens = 0;
      shared.budget = 0;
      shared.slotsHeld = shared.slotsUsed;
      shared.leasedAt = 0;
    }
    if (this.#degraded || this.#client.status !== 'ready') return;
    const budget = limits.budget;
    const args = [
      this.#instance,
      HOLD_TTL_MS,
      limits.requests === null ? 0 : (units[0] ?? 0),
      limits.requests?.amount ?? 0,
      limits.requests?.perMs ?? 0,
      limits.tokens === null ? 0 : (units[1] ?? 0),
      limits.tokens?.amount ?? 0,
      limits.tokens?.perMs ?? 0,
      budget === null ? 0 : (units[2] ?? 0),
      budget === null ? 0 : periodEnd(budget, Date.now()),
      limits.parallel === null ? -1 : shared.slotsHeld,
    ];
    shared.lastCallAt = Date.now();
    try {
      await this.#client.iproxyGive(...redisKeys(shared), ...args);
    } catch (err) {
      // What was held is lost to the shared count (at most one lease of this key), not to the limits.
      this.#log.debug({ err }, 'giving back a rate-limit lease failed');
    }
  }
}

function newShared(key: TenantKey): Shared {
  const prefix = `{iproxy:${key.name}}`;
  return {
    limits: key.limits,
    prefix,
    requests: 0,
    tokens: 0,
    budget: 0,
    budgetPeriod: -1,
    slotsHeld: 0,
    slotsUsed: 0,
    leasedAt: 0,
    lastCallAt: 0,
    pending: null,
    remote: { requests: null, tokens: null, budgetLeft: null, at: 0 },
  };
}

/** The four keys of the scripts; the budget's names its period, so that a new period starts from nothing. */
function redisKeys(shared: Shared): string[] {
  const { prefix } = shared;
  const period = shared.limits.budget === null ? 'none' : String(shared.budgetPeriod);
  return [`${prefix}:rpm`, `${prefix}:tpm`, `${prefix}:budget:${period}`, `${prefix}:par`];
}

function held(shared: Shared): boolean {
  return shared.requests !== 0 || shared.tokens !== 0 || shared.budget !== 0 || shared.slotsHeld > shared.slotsUsed;
}

function chunk(limit: number): number {
  return Math.max(1, Math.ceil(limit * LEASE_FRACTION));
}

/** The URL without its password, for logs. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'redis://(unparsable)';
  }
}
