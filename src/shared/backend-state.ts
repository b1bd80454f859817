/**
 * A backend's health as one set of flags (as Envoy keeps one set per host): the active checks' verdict,
 * an ejection by live traffic's failures, a hold asked for by the backend's own Retry-After, and when it
 * last came back (for slow start). The primary's FleetMember, the worker's Backend and /healthz all hold
 * or read this one type; it crosses IPC as these plain fields.
 */
export interface HealthFlags {
  /** The active health checks' verdict (only the primary probes). */
  readonly up: boolean;
  /** Taken out by live traffic's failures until then (epoch ms); 0 when never. */
  readonly ejectedUntilMs: number;
  /** How long that ejection was, ms: a repeat soon after it lasts twice as long. */
  readonly ejectionMs: number;
  /** Kept out of selection by its own Retry-After until then (epoch ms); 0 when never. */
  readonly heldUntilMs: number;
  /** When the checks last saw it come (back) up, or it joined at runtime (epoch ms); 0: there from the start. */
  readonly upSinceMs: number;
}

/** A backend's state as /healthz and the dashboard name it. */
export type BackendStatus = 'up' | 'down' | 'ejected' | 'held';

/** Ejections repeated within this long of the previous one's end last twice as long… */
const EJECTION_REPEAT_WINDOW_MS = 60_000;
/** …up to this long. */
const MAX_EJECTION_MS = 60_000;
/** A backend in slow start still gets this share of its weight, so that it is tried at all. */
const SLOW_START_FLOOR = 0.1;

/** What a transition of the active health state was, for the log and the metrics. */
export type HealthTransition = 'down' | 'up' | null;

/** The flags of a backend that is up and has never been out. */
export const HEALTHY: HealthFlags = Object.freeze({ up: true, ejectedUntilMs: 0, ejectionMs: 0, heldUntilMs: 0, upSinceMs: 0 });

export class BackendState implements HealthFlags {
  up = true;
  ejectedUntilMs = 0;
  ejectionMs = 0;
  heldUntilMs = 0;
  upSinceMs: number;
  #okStreak = 0;
  #failStreak = 0;

  /** `upSinceMs`: when it joined, for a backend added at runtime (it ramps up); 0 for one there from the start. */
  constructor(upSinceMs = 0) {
    this.upSinceMs = upSinceMs;
  }

  /**
   * The one merge rule, for another view of the same backend (a worker taking the primary's, which may lag
   * behind the worker's own verdicts): the active checks' verdict is the other view's (only the primary
   * probes); of two ejections, holds or returns, the later stands.
   */
  merge(other: HealthFlags): void {
    this.up = other.up;
    if (other.ejectedUntilMs > this.ejectedUntilMs) {
      this.ejectedUntilMs = other.ejectedUntilMs;
      this.ejectionMs = other.ejectionMs;
    }
    this.heldUntilMs = Math.max(this.heldUntilMs, other.heldUntilMs);
    this.upSinceMs = Math.max(this.upSinceMs, other.upSinceMs);
  }

  flags(): HealthFlags {
    const { up, ejectedUntilMs, ejectionMs, heldUntilMs, upSinceMs } = this;
    return { up, ejectedUntilMs, ejectionMs, heldUntilMs, upSinceMs };
  }

  /** Up by the active checks and not taken out by live traffic's failures: it may be selected. */
  isUp(nowMs: number): boolean {
    return this.up && nowMs >= this.ejectedUntilMs;
  }

  /** Asked by its own Retry-After to be left alone for a while. */
  isHeld(nowMs: number): boolean {
    return nowMs < this.heldUntilMs;
  }

  statusAt(nowMs: number): BackendStatus {
    return statusOf(this, nowMs);
  }

  /**
   * `weight` scaled by slow start: from a tenth to all of it over `slowStartMs` after the backend came back
   * (the checks saw it up, its ejection ended, or it joined). While it is out it keeps its whole weight:
   * routing does not send it anything then, and affinity must still rank it as the home of its keys (they
   * are `unavailable`, not moved).
   */
  effectiveWeight(weight: number, slowStartMs: number, nowMs: number): number {
    const since = Math.max(this.upSinceMs, this.ejectedUntilMs);
    if (slowStartMs === 0 || since === 0 || nowMs < since) return weight;
    const ramp = (nowMs - since) / slowStartMs;
    return ramp >= 1 ? weight : weight * Math.max(SLOW_START_FLOOR, ramp);
  }

  /** Takes one probe result; down after `unhealthy` failures in a row, up after `healthy` successes. */
  checked(ok: boolean, atMs: number, unhealthy: number, healthy: number): HealthTransition {
    if (ok) {
      this.#failStreak = 0;
      if (this.up || ++this.#okStreak < healthy) return null;
      this.up = true;
      this.#okStreak = 0;
      this.upSinceMs = atMs;
      return 'up';
    }
    this.#okStreak = 0;
    if (!this.up || ++this.#failStreak < unhealthy) return null;
    this.up = false;
    this.#failStreak = 0;
    return 'down';
  }

  /**
   * Live traffic failed --max-fails times in a row: out for `baseMs`, twice the last ejection when it is a
   * repeat within a minute of that one's end, at most a minute. False when it is already out (several
   * workers may report the same failures).
   */
  eject(nowMs: number, baseMs: number): boolean {
    if (nowMs < this.ejectedUntilMs) return false;
    const repeat = this.ejectedUntilMs > 0 && this.ejectionMs > 0 && nowMs - this.ejectedUntilMs < EJECTION_REPEAT_WINDOW_MS;
    this.ejectionMs = Math.min(repeat ? this.ejectionMs * 2 : baseMs, MAX_EJECTION_MS);
    this.ejectedUntilMs = nowMs + this.ejectionMs;
    return true;
  }

  /** Its Retry-After: left alone until then; false when an earlier hold already lasts longer. */
  hold(nowMs: number, forMs: number): boolean {
    const until = nowMs + forMs;
    if (until <= this.heldUntilMs) return false;
    this.heldUntilMs = until;
    return true;
  }
}

/** The state of `flags` at `nowMs`: down by the checks first, then ejected, then held. */
export function statusOf(flags: HealthFlags, nowMs: number): BackendStatus {
  if (!flags.up) return 'down';
  if (nowMs < flags.ejectedUntilMs) return 'ejected';
  return nowMs < flags.heldUntilMs ? 'held' : 'up';
}
