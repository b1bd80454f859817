import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { DEFAULT_PRIORITY_CLASS, type PriorityClass } from '../admission/priority-class.js';
import type { CompletionResult } from '../llm/completion-tracker.js';
import type { TenantWorkerMetrics } from '../metrics/tenant-metrics.js';
import type { ErrorCode } from '../shared/error-catalog.js';
import type { AdmissionClient } from './admission-client.js';
import { createModelCheck, type ModelCheck } from './model-globs.js';
import { rateLimitHeaders, refusalHeaders } from './ratelimit-headers.js';
import { TenantRecorder } from './tenant-recorder.js';
import { hasLimits, type LimitName, STATIC_KEY_NAME, type TenantKey } from './tenant-types.js';
import type { Ticket } from './verdict.js';
import { type Admitted, type Refusal as LimitRefusal, WorkerLimits } from './worker-limits.js';

const BEARER = /^Bearer[ ]+(\S+)\s*$/i;

/** Who is asking, as the worker knows it: never the key, only its name and what it may do. */
export interface Tenant {
  readonly name: string;
  /** Its class and share in the admission queue. */
  readonly priority: PriorityClass;
  readonly weight: number;
  readonly mayUse: ModelCheck;
  /** It names models: requests that carry a model are read to check it. */
  readonly restricted: boolean;
  readonly admin: boolean;
  /** It has a limit: its requests are admitted by the primary. */
  readonly limited: boolean;
  readonly recorder: TenantRecorder;
}

/** An admission refused: the catalog code, the message, and the headers (Retry-After, x-ratelimit-*). */
export interface Refusal {
  readonly code: ErrorCode;
  readonly message: string;
  readonly headers: readonly string[];
  /** ratelimit_rejected_total's label; null for a 503 (the limits could not be decided). */
  readonly limit: LimitName | null;
}

export interface TenantGateOptions {
  readonly keys: readonly TenantKey[];
  /** Digests of the --api-key and --api-key-file keys: keys without limits, named STATIC_KEY_NAME. */
  readonly apiKeyDigests: readonly string[];
  readonly allowAdminRoutes: boolean;
  readonly defaultMaxTokens: number;
}

/**
 * The tenant side of a request in a worker: who the key is (by the SHA-256 of the bearer token; a map
 * lookup on a digest reveals nothing a client could steer byte by byte), what it may reach, how many
 * tokens it reserves, and its admission by the primary. Built once at startup from the config.
 */
export class TenantGate {
  readonly #byDigest = new Map<string, Tenant>();
  readonly #allowAdminRoutes: boolean;
  readonly #defaultMaxTokens: number;
  readonly #limits: WorkerLimits;
  readonly #tenants: Tenant[] = [];
  /** Any key configured: a request without a known key gets 401. */
  readonly authRequired: boolean;

  constructor(options: TenantGateOptions, metrics: TenantWorkerMetrics, client: AdmissionClient) {
    this.#allowAdminRoutes = options.allowAdminRoutes;
    this.#defaultMaxTokens = options.defaultMaxTokens;
    this.#limits = new WorkerLimits(options.keys, client);
    for (const key of options.keys) {
      this.#add(key.digest, {
        name: key.name,
        priority: key.priority,
        weight: key.weight,
        mayUse: createModelCheck(key.models),
        restricted: key.models !== null,
        admin: key.admin,
        limited: hasLimits(key.limits),
        recorder: new TenantRecorder(metrics, key.name),
      });
    }
    if (options.apiKeyDigests.length > 0) {
      const shared: Tenant = {
        name: STATIC_KEY_NAME,
        priority: DEFAULT_PRIORITY_CLASS,
        weight: 1,
        mayUse: createModelCheck(null),
        restricted: false,
        admin: false,
        limited: false,
        recorder: new TenantRecorder(metrics, STATIC_KEY_NAME),
      };
      for (const digest of options.apiKeyDigests) if (!this.#byDigest.has(digest)) this.#add(digest, shared);
      this.#tenants.push(shared);
    }
    this.authRequired = this.#byDigest.size > 0;
  }

  #add(digest: string, tenant: Tenant): void {
    this.#byDigest.set(digest, tenant);
    this.#tenants.push(tenant);
  }

  /** Gives back every key's units this worker holds (it is about to exit). */
  releaseAll(): void {
    this.#limits.releaseAll();
  }

  /** Brings the deferred per-key counts up to date (before the registry is read). */
  flush(): void {
    for (const tenant of this.#tenants) tenant.recorder.flush();
  }

  /** The key's tenant; null without a bearer token or with an unknown one. */
  identify(headers: IncomingHttpHeaders): Tenant | null {
    if (!this.authRequired) return null;
    const match = BEARER.exec(headers.authorization ?? '');
    if (match === null) return null;
    const digest = createHash('sha256')
      .update(match[1] as string)
      .digest('hex');
    return this.#byDigest.get(digest) ?? null;
  }

  mayUseAdminRoutes(tenant: Tenant | null): boolean {
    return this.#allowAdminRoutes || (tenant?.admin ?? false);
  }

  /**
   * Tokens a completion request reserves: its prompt at one token per 4 bytes of the body (an estimate on
   * the high side for text: the body also holds the JSON around the prompt, as a chat template adds tokens
   * around the messages) plus what it may generate, max_tokens (or max_completion_tokens, else
   * --default-max-tokens) for each of its n choices.
   */
  reservation(bodyBytes: number, json: Record<string, unknown> | null): { tokens: number; prompt: number } {
    const prompt = Math.ceil(bodyBytes / 4);
    const asked = json?.max_completion_tokens ?? json?.max_tokens;
    const maxTokens = isCount(asked) ? asked : this.#defaultMaxTokens;
    const n = isCount(json?.n) ? (json?.n as number) : 1;
    return { tokens: prompt + maxTokens * n, prompt };
  }

  /**
   * Admits the request from what this worker holds of its key's limits (at once), or after a lease from the
   * primary (a promise); the ticket settles the reservation and records the request's metrics when it ends.
   */
  admit(tenant: Tenant, reserve: { tokens: number; prompt: number }): TenantTicket | Refusal | Promise<TenantTicket | Refusal> {
    const outcome = this.#limits.admit(tenant.name, reserve.tokens);
    if (outcome instanceof Promise) return outcome.then((settled) => this.#ticketOf(tenant, reserve, settled));
    return this.#ticketOf(tenant, reserve, outcome);
  }

  /** A ticket for a request of a key without limits: metrics only. */
  unlimited(tenant: Tenant): TenantTicket {
    return new TenantTicket(tenant, null, null, { tokens: 0, prompt: 0 }, []);
  }

  #ticketOf(tenant: Tenant, reserve: { tokens: number; prompt: number }, outcome: Admitted | LimitRefusal): TenantTicket | Refusal {
    if (outcome.ok) return new TenantTicket(tenant, this.#limits, outcome.ticket, reserve, rateLimitHeaders(outcome.view));
    return refusal(outcome);
  }
}

function refusal(answer: LimitRefusal): Refusal {
  const message = answer.message ?? 'rate limit reached';
  if (answer.limit === 'unavailable' || answer.limit === undefined) {
    return { code: 'ratelimit_unavailable', message, headers: ['retry-after', '1'], limit: null };
  }
  const code: ErrorCode = answer.limit === 'budget' ? 'insufficient_quota' : 'rate_limit_exceeded';
  return { code, message, headers: refusalHeaders(answer), limit: answer.limit };
}

/**
 * An identified request in progress: when it ends, its key's metrics are recorded and, if it was admitted
 * against limits, its reservation is settled with the tokens it used.
 */
export class TenantTicket {
  readonly tenant: Tenant;
  readonly #limits: WorkerLimits | null;
  readonly #ticket: Ticket | null;
  readonly #reserve: { readonly tokens: number; readonly prompt: number };
  /** x-ratelimit-* for the response, as a flat [name, value, ...] list. */
  readonly headers: readonly string[];

  constructor(
    tenant: Tenant,
    limits: WorkerLimits | null,
    ticket: Ticket | null,
    reserve: { readonly tokens: number; readonly prompt: number },
    headers: readonly string[],
  ) {
    this.tenant = tenant;
    this.#limits = limits;
    this.#ticket = ticket;
    this.#reserve = reserve;
    this.headers = headers;
  }

  ended(status: number, result: CompletionResult | null): void {
    this.tenant.recorder.ended(status, result);
    if (this.#ticket !== null) this.#limits?.settle(this.#ticket, chargedTokens(this.#reserve, status, result));
  }
}

/**
 * What an ended request is charged: the backend's usage when it reported one; for a stream cut short
 * (no usage chunk), the prompt estimate plus the content events it sent; for a request that got an answer
 * or was abandoned while the backend worked but whose usage could not be read, its whole reservation; for
 * a request that no backend generated anything for (an error status, a non-completion endpoint), nothing.
 */
function chargedTokens(
  reserve: { readonly tokens: number; readonly prompt: number },
  status: number,
  result: CompletionResult | null,
): number {
  if (result === null) return 0;
  const { promptTokens, completionTokens } = result;
  if (completionTokens !== null) return (promptTokens ?? reserve.prompt) + completionTokens;
  return status === 200 || status === 499 ? reserve.tokens : 0;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
}
