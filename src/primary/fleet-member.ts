import type { BackendConfig } from '../config/types.js';
import type { HealthResult } from '../metrics/fleet-metrics.js';
import { BackendState } from '../shared/backend-state.js';
import type { FleetBackend } from '../shared/fleet.js';

export interface LastCheck {
  readonly atMs: number;
  readonly result: HealthResult;
  readonly latencyMs: number;
}

/**
 * One backend of the fleet as the primary tracks it: where it is (a configured URL, or one of the
 * addresses its name resolves to), its health (the one BackendState, which the active checks, the
 * workers' ejections and holds all change), its last check and its models. Pure state: the Fleet drives
 * the probes and says when.
 */
export class FleetMember {
  readonly url: string;
  readonly origin: string;
  readonly basePath: string;
  readonly host: string;
  source: BackendConfig;
  readonly state: BackendState;
  lastCheck: LastCheck | null = null;
  /** Model cards read from its /v1/models; null until read (or when it serves none). */
  discovered: Record<string, unknown>[] | null = null;

  /** `joinedLate`: added after start (reload, DNS), so it ramps up like a backend coming back. */
  constructor(source: BackendConfig, where: { url: string; origin: string; host: string }, nowMs: number, joinedLate: boolean) {
    this.source = source;
    this.url = where.url;
    this.origin = where.origin;
    this.basePath = source.basePath;
    this.host = where.host;
    this.state = new BackendState(joinedLate ? nowMs : 0);
  }

  /** The models it serves: configured ones win over discovered ones. */
  get models(): readonly string[] | null {
    if (this.source.models !== null) return this.source.models;
    return this.discovered === null ? null : this.discovered.map((card) => card.id as string);
  }

  /** Takes one probe result into the health state (see BackendState.checked). */
  checked(check: LastCheck, unhealthy: number, healthy: number) {
    this.lastCheck = check;
    return this.state.checked(check.result === 'ok', check.atMs, unhealthy, healthy);
  }

  toState(): FleetBackend {
    return {
      url: this.url,
      origin: this.origin,
      basePath: this.basePath,
      host: this.host,
      weight: this.source.weight,
      maxConcurrency: this.source.maxConcurrency,
      models: this.models,
      health: this.state.flags(),
      lastCheck: this.lastCheck,
    };
  }
}
