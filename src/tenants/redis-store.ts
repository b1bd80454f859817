import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Counter } from 'prom-client';
import type { Logger } from '../shared/logger.js';
import { Allowance, chunkOf, extraOf, LEASE_TTL_MS, type LeaseAsk, NO_UNITS, type Units } from './allowance.js';
import { periodEnd } from './budget-period.js';
import type { LimitStore } from './limit-store.js';
import { budgetMessage, LocalLimiter, PARALLEL_RETRY_MS, rateMessage, requestUnits } from './local-limiter.js';
import { budgetedNames } from './local-store.js';
import { GIVE_SCRIPT, TAKE_SCRIPT } from './redis-scripts.js';
import type { TenantKey, TenantLimits } from './tenant-types.js';
import { type LeaseVerdict, NO_VIEW, type Ticket, type Verdict } from './verdict.js';

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

/** One key's shared limits as this instance holds them: units leased from Redis and not lent to a worker yet. */
interface Shared {
  readonly allowance: Allowance;
  /** The hash tag every key of this key's limits shares: `{iproxy:<name>}`. */
  readonly prefix: string;
  lastCallAt: number;
  pending: Promise<unknown> | null;
}

/**
 * With --redis-url: every key's limits are shared by the instances that use the same Redis. An instance's
 * primary leases units in chunks with one atomic script call (redis-scripts.ts) and lends them on to its
 * workers' leases; what comes back unspent, and what is left, goes back to Redis after LEASE_TTL_MS. When
 * Redis fails or is slower than --redis-timeout, `open` falls back to the limits of this instance alone (a
 * LocalLimiter), `closed` answers 503; the client reconnects by itself and sharing resumes on the next
 * successful call.
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

  lease(tenant: string, ask: LeaseAsk): LeaseVerdict | null | Promise<LeaseVerdict | null> {
    const shared = this.#shared.get(tenant);
    if (shared === undefined) return { ok: true, granted: ask.want, period: null, view: NO_VIEW };
    // One call to Redis at a time per key: the others wait for it and then lend from what it brought.
    if (shared.pending !== null) return shared.pending.then(() => this.lease(tenant, ask));
    const now = Date.now();
    const { allowance } = shared;
    allowance.roll(now);
    if (covers(allowance, ask.need)) return this.#lend(shared, ask, now);
    if (this.#degraded && (this.#client.status !== 'ready' || performance.now() < this.#retryAt)) {
      this.#errors.inc();
      return this.#fallbackLease(tenant, ask);
    }
    const lease = this.#take(shared, tenant, ask, now);
    shared.pending = lease.finally(() => {
      shared.pending = null;
    });
    return lease;
  }

  give(tenant: string, units: Units, period: number | null): void {
    if (this.#degraded) {
      this.#fallback.give(tenant, units, period, Date.now());
      return;
    }
    const shared = this.#shared.get(tenant);
    if (shared === undefined) return;
    const { allowance } = shared;
    allowance.requests += units.requests;
    allowance.tokens += units.tokens;
    if (period === allowance.period) allowance.budget += units.budget;
    allowance.slotsUsed = Math.max(0, allowance.slotsUsed - units.slots);
    if (allowance.leasedAt === 0 && allowance.holding) allowance.leasedAt = Date.now();
    this.#arm();
  }

  /** Single requests without a worker in between (tests, tools): a lease of exactly one request's units. */
  async admit(tenant: string, tokens: number): Promise<Verdict | null> {
    const one = requestUnits(this.#shared.get(tenant)?.allowance.limits, tokens);
    const lease = await this.lease(tenant, { need: one, want: one });
    if (lease === null || !lease.ok) return lease;
    return { ok: true, view: lease.view, ticket: { tenant, tokens, period: lease.period, parallel: one.slots > 0 } };
  }

  /** The request admitted by admit() ended having used `used` tokens. */
  settle(ticket: Ticket, used: number): void {
    const back = ticket.tokens - used;
    this.give(ticket.tenant, { requests: 0, tokens: back, budget: back, slots: ticket.parallel ? 1 : 0 }, ticket.period);
  }

  *budgets(): Iterable<[string, number]> {
    const now = Date.now();
    for (const name of this.#budgeted) {
      const shared = this.#shared.get(name);
      if (shared === undefined) continue;
      const left = this.#degraded ? this.#fallback.budgetLeft(name, now) : shared.allowance.view(now).budgetLeft;
      yield [name, left ?? shared.allowance.limits.budget?.tokens ?? 0];
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
        shared.allowance.limits = key.limits;
      } else {
        this.#shared.set(key.name, { allowance: new Allowance(key.limits), prefix: `{iproxy:${key.name}}`, lastCallAt: 0, pending: null });
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
    await Promise.allSettled([...this.#shared.values()].map((shared) => this.#giveBack(shared, true)));
    await Promise.race([
      this.#client.quit().catch(() => undefined),
      new Promise((resolve) => setTimeout(resolve, this.#options.timeoutMs * 4)),
    ]);
    this.#client.disconnect();
  }

  /** Lends a worker at least its need and up to its want from what this instance holds (which covers the need). */
  #lend(shared: Shared, ask: LeaseAsk, now: number): LeaseVerdict {
    const { allowance } = shared;
    const { need, want } = ask;
    const { limits } = allowance;
    // Beyond the need, only what this instance holds and what the whole key has free beyond the floor.
    const view = allowance.view(now);
    const extra = (wanted: number, needed: number, held: number, free: number | undefined, limit: number, budget = false): number =>
      needed + Math.min(Math.max(0, held - needed), extraOf(wanted, needed, (free ?? 0) - needed, limit, budget));
    const idle = allowance.slotsHeld - allowance.slotsUsed;
    const granted = {
      requests: extra(want.requests, need.requests, allowance.requests, view.requests?.remaining, limits.requests?.amount ?? 0),
      tokens: extra(want.tokens, need.tokens, allowance.tokens, view.tokens?.remaining, limits.tokens?.amount ?? 0),
      budget: extra(want.budget, need.budget, allowance.budget, view.budgetLeft ?? 0, limits.budget?.tokens ?? 0, true),
      slots: need.slots + Math.min(Math.max(0, idle - need.slots), Math.max(0, want.slots - need.slots)),
    };
    allowance.requests -= granted.requests;
    allowance.tokens -= granted.tokens;
    allowance.budget -= granted.budget;
    allowance.slotsUsed += granted.slots;
    return { ok: true, granted, period: allowance.limits.budget === null ? null : allowance.period, view: allowance.view(now) };
  }

  async #take(shared: Shared, tenant: string, ask: LeaseAsk, now: number): Promise<LeaseVerdict | null> {
    const { allowance } = shared;
    const { limits } = allowance;
    const { need, want } = ask;
    const rate = (limit: { amount: number; perMs: number } | null, held: number, needed: number, wanted: number): number[] => {
      if (limit === null) return [0, 0, 0, 0];
      const short = Math.max(0, needed - held);
      return short === 0
        ? [0, 0, limit.amount, limit.perMs]
        : [Math.max(0, wanted - held) + chunkOf(limit.amount), short, limit.amount, limit.perMs];
    };
    const budget = limits.budget;
    const budgetShort = budget === null ? 0 : Math.max(0, need.budget - allowance.budget);
    const idle = allowance.slotsHeld - allowance.slotsUsed;
    const slotShort = limits.parallel === null ? 0 : Math.max(0, need.slots - idle);
    const args = [
      this.#instance,
      HOLD_TTL_MS,
      ...rate(limits.requests, allowance.requests, need.requests, want.requests),
      ...rate(limits.tokens, allowance.tokens, need.tokens, want.tokens),
      budgetShort === 0 ? 0 : Math.max(0, want.budget - allowance.budget) + chunkOf(budget?.tokens ?? 0, true),
      budgetShort,
      budget?.tokens ?? 0,
      budget === null ? 0 : periodEnd(budget, now) + 86_400_000,
      slotShort === 0 ? 0 : Math.max(0, want.slots - idle) + chunkOf(limits.parallel ?? 0) - 1,
      slotShort,
      limits.parallel ?? 0,
      allowance.slotsHeld,
    ];
    let result: number[];
    try {
      result = await this.#client.iproxyTake(...redisKeys(shared), ...args);
    } catch (err) {
      this.#failed(err as Error, true);
      return this.#fallbackLease(tenant, ask);
    }
    this.#recovered();
    const at = Date.now();
    shared.lastCallAt = at;
    const view = {
      requests: limits.requests === null ? null : { limit: limits.requests.amount, remaining: result[4] ?? 0, resetMs: result[5] ?? 0 },
      tokens: limits.tokens === null ? null : { limit: limits.tokens.amount, remaining: result[7] ?? 0, resetMs: result[8] ?? 0 },
      budgetLeft: budget === null ? null : (result[10] ?? 0),
    };
    allowance.add({ requests: result[3] ?? 0, tokens: result[6] ?? 0, budget: result[9] ?? 0, slots: result[11] ?? 0 }, view, at);
    this.#arm();
    if (result[0] === 1) return this.#lend(shared, ask, at);
    return this.#refusal(allowance, result[1] ?? 0, result[2] ?? -1, ask.need, at);
  }

  #refusal(allowance: Allowance, failed: number, retry: number, need: Units, now: number): LeaseVerdict {
    const view = allowance.view(now);
    const { limits } = allowance;
    const retryAfterMs = retry < 0 ? null : retry;
    if (failed === 1)
      return { ok: false, limit: 'rpm', retryAfterMs, view, message: rateMessage('requests', limits.requests, need.requests) };
    if (failed === 2) return { ok: false, limit: 'tpm', retryAfterMs, view, message: rateMessage('tokens', limits.tokens, need.tokens) };
    if (failed === 3) {
      const budget = limits.budget as NonNullable<TenantLimits['budget']>;
      const end = periodEnd(budget, now);
      return {
        ok: false,
        limit: 'budget',
        retryAfterMs: retry === -1 ? null : end - now,
        view,
        message: budgetMessage(view.budgetLeft ?? 0, budget.tokens, need.budget, end),
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

  #fallbackLease(tenant: string, ask: LeaseAsk): LeaseVerdict | null {
    if (this.#options.failure === 'closed') return null;
    return this.#fallback.lease(tenant, ask, Date.now());
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
      const { allowance } = shared;
      if (shared.pending === null && (allowance.holding || allowance.slotsUsed > 0)) {
        const stale = allowance.leasedAt !== 0 && now - allowance.leasedAt >= LEASE_TTL_MS;
        // Slots lent to workers keep this instance's holding alive in Redis (it expires after HOLD_TTL_MS).
        const heartbeat = allowance.slotsUsed > 0 && now - shared.lastCallAt >= HOLD_TTL_MS / 3;
        if (stale || heartbeat) void this.#giveBack(shared, stale);
      }
      if (allowance.holding || allowance.slotsUsed > 0) holding = true;
    }
    if (!holding && this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  };

  /** Gives back what is held unspent (or charges what is owed), and renews this instance's slot holding. */
  async #giveBack(shared: Shared, returnUnits: boolean): Promise<void> {
    const { allowance } = shared;
    const { limits } = allowance;
    const units = returnUnits ? allowance.release() : NO_UNITS;
    if (this.#degraded || this.#client.status !== 'ready') return;
    const budget = limits.budget;
    const args = [
      this.#instance,
      HOLD_TTL_MS,
      limits.requests === null ? 0 : units.requests,
      limits.requests?.amount ?? 0,
      limits.requests?.perMs ?? 0,
      limits.tokens === null ? 0 : units.tokens,
      limits.tokens?.amount ?? 0,
      limits.tokens?.perMs ?? 0,
      budget === null ? 0 : units.budget,
      budget === null ? 0 : periodEnd(budget, Date.now()),
      limits.parallel === null ? -1 : allowance.slotsHeld,
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

/** Holds at least `need` of every limit. */
function covers(allowance: Allowance, need: Units): boolean {
  return (
    allowance.requests >= need.requests &&
    allowance.tokens >= need.tokens &&
    allowance.budget >= need.budget &&
    allowance.slotsHeld - allowance.slotsUsed >= need.slots
  );
}

/** The four keys of the scripts; the budget's names its period, so that a new period starts from nothing. */
function redisKeys(shared: Shared): string[] {
  const { prefix, allowance } = shared;
  const period = allowance.limits.budget === null ? 'none' : String(allowance.period);
  return [`${prefix}:rpm`, `${prefix}:tpm`, `${prefix}:budget:${period}`, `${prefix}:par`];
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
