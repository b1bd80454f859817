import type { BackendConfig } from '../config/types.js';
import type { HealthResult } from '../metrics/fleet-metrics.js';
import type { FleetBackend } from '../shared/fleet.js';

/** Ejections repeated within this long of the previous one's end last twice as long… */
const EJECTION_REPEAT_WINDOW_MS = 60_000;
/** …up to this long. */
const MAX_EJECTION_MS = 60_000;

export interface LastCheck {
  readonly atMs: number;
  readonly result: HealthResult;
  readonly latencyMs: number;
}

/** What a transition of the active health state was, for the log and the metrics. */
export type HealthTransition = 'down' | 'up' | null;

/**
 * One backend of the fleet as the primary tracks it: where it is (a configured URL, or one of the
 * addresses its name resolves to), its active health with hysteresis, its ejections and holds, and its
 * models. Pure state: the Fleet drives the probes and says when.
 */
export class FleetMember {
  readonly url: string;
  readonly origin: string;
  readonly basePath: string;
  readonly host: string;
  source: BackendConfig;
  up = true;
  ejectedUntilMs = 0;
  heldUntilMs = 0;
  upSinceMs: number;
  lastCheck: LastCheck | null = null;
  /** Model cards read from its /v1/models; null until read (or when it serves none). */
  discovered: Record<string, unknown>[] | null = null;
  #okStreak = 0;
  #failStreak = 0;
  #ejectionMs = 0;

  /** `joinedLate`: added after start (reload, DNS), so it ramps up like a backend coming back. */
  constructor(source: BackendConfig, where: { url: string; origin: string; host: string }, nowMs: number, joinedLate: boolean) {
    this.source = source;
    this.url = where.url;
    this.origin = where.origin;
    this.basePath = source.basePath;
    this.host = where.host;
    this.upSinceMs = joinedLate ? nowMs : 0;
  }

  /** The models it serves: configured ones win over discovered ones. */
  get models(): readonly string[] | null {
    if (this.source.models !== null) return this.source.models;
    return this.discovered === null ? null : this.discovered.map((card) => card.id as string);
  }

  isUp(nowMs: number): boolean {
    return this.up && nowMs >= this.ejectedUntilMs;
  }

  /** Takes one probe result; down after `unhealthy` failures in a row, up after `healthy` successes. */
  checked(check: LastCheck, unhealthy: number, healthy: number): HealthTransition {
    this.lastCheck = check;
    if (check.result === 'ok') {
      this.#failStreak = 0;
      if (this.up || ++this.#okStreak < healthy) return null;
      this.up = true;
      this.#okStreak = 0;
      this.upSinceMs = check.atMs;
      return 'up';
    }
    this.#okStreak = 0;
    if (!this.up || ++this.#failStreak < unhealthy) return null;
    this.up = false;
    this.#failStreak = 0;
    return 'down';
  }

  /**
   * Live traffic failed --max-fails times in a row: out for `baseMs`, doubled when it is a repeat within
   * a minute of the last ejection's end, at most a minute. False when it is already out (several workers
   * may report the same failures).
   */
  eject(nowMs: number, baseMs: number): boolean {
    if (nowMs < this.ejectedUntilMs) return false;
    const repeat = this.ejectedUntilMs > 0 && nowMs - this.ejectedUntilMs < EJECTION_REPEAT_WINDOW_MS;
    this.#ejectionMs = repeat ? Math.min(this.#ejectionMs * 2, MAX_EJECTION_MS) : Math.min(baseMs, MAX_EJECTION_MS);
    this.ejectedUntilMs = nowMs + this.#ejectionMs;
    // When it comes back it ramps up again.
    this.upSinceMs = this.ejectedUntilMs;
    return true;
  }

  hold(nowMs: number, forMs: number): boolean {
    const until = nowMs + forMs;
    if (until <= this.heldUntilMs) return false;
    this.heldUntilMs = until;
    return true;
  }

  toState(): FleetBackend {
    return {
      url: this.url,
      origin: this.origin,
      basePath: this.basePath,
      host: this.host,
      weight: this.source.weight,
      models: this.models,
      up: this.up,
      ejectedUntilMs: this.ejectedUntilMs,
      heldUntilMs: this.heldUntilMs,
      upSinceMs: this.upSinceMs,
      lastCheck: this.lastCheck,
    };
  }
}
