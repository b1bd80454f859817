import type { BackendConfig, Config } from '../config/types.js';
import { type EngineLoad, loadEngineParsers } from '../engines/engine-registry.js';
import { EJECTION_REASONS, type FleetMetrics, HEALTH_RESULTS } from '../metrics/fleet-metrics.js';
import type { BackendOut, CheckRecords, FleetState } from '../shared/fleet.js';
import type { Logger } from '../shared/logger.js';
import { discoverModels, probeHealth } from './backend-probe.js';
import { EngineProber } from './engine-prober.js';
import { FleetMember } from './fleet-member.js';
import { createNameResolver, type ResolveAddresses } from './name-resolver.js';
import { ProbeConnection } from './probe-connection.js';

/** State changes that come together (a probe round, several workers' verdicts) go out as one broadcast. */
const BROADCAST_COALESCE_MS = 5;
/**
 * A probe that changed nothing but its own record (/healthz's lastCheck) goes out with the next broadcast,
 * at the latest this long after: probes are spread over the interval, and one broadcast of the whole state
 * per probe would cost every worker a parse of every backend's entry, 51 times a second at 256 backends.
 * When nothing else changed meanwhile, that broadcast holds only the records that did (FleetHooks.checked).
 */
const LAST_CHECK_COALESCE_MS = 1_000;

export interface FleetHooks {
  /** The state changed: hand it to every worker. */
  changed(state: FleetState): void;
  /** Only these backends' last checks changed: hand them to every worker. */
  checked(records: CheckRecords): void;
  /** A backend left the fleet longer than the grace period ago: stop exporting its series anywhere. */
  forgotten(url: string): void;
  /** A new reading of a backend's engine (--load-interval), or null: it went stale or the backend left. */
  engine?(url: string, load: EngineLoad | null): void;
  /** True while the instance has requests in progress: engines are then read every --load-interval. */
  busy?(): boolean;
}

/**
 * The fleet, kept by the primary alone: one prober per proxy instance whatever the number of workers.
 * It resolves names (--dns-refresh), probes health, reads model lists, takes the verdicts of live traffic
 * that workers report (ejections, Retry-After holds), and hands the resulting FleetState to the workers.
 */
export class Fleet {
  #config: Config;
  readonly #log: Logger;
  readonly #metrics: FleetMetrics;
  readonly #hooks: FleetHooks;
  readonly #resolve: ResolveAddresses;
  readonly #engines: EngineProber;
  readonly #members = new Map<string, FleetMember>();
  /** Each member's connection for its health checks and model reads, kept open between them. */
  readonly #connections = new Map<string, ProbeConnection>();
  /** The addresses each configured name resolved to last (--dns-refresh), by configured URL. */
  readonly #addresses = new Map<string, readonly string[]>();
  readonly #timers = new Set<NodeJS.Timeout>();
  /** The model series exported per backend, so that a model it no longer serves stops being exported. */
  readonly #exportedModels = new Map<string, Set<string>>();
  #broadcastTimer: NodeJS.Timeout | null = null;
  /** The pending broadcast is of the whole state: something besides a check's record changed. */
  #stateChanged = false;
  /** Members whose last check changed since the last broadcast. */
  readonly #checked = new Set<FleetMember>();
  /** When the pending broadcast goes out (epoch ms). */
  #broadcastAtMs = 0;
  #panic = false;
  #started = false;
  #closed = false;

  constructor(config: Config, log: Logger, metrics: FleetMetrics, hooks: FleetHooks) {
    this.#config = config;
    this.#log = log;
    this.#metrics = metrics;
    this.#hooks = hooks;
    this.#resolve = createNameResolver(config.dnsServer);
    this.#engines = new EngineProber(
      () => ({
        intervalMs: this.#config.loadIntervalMs,
        idleIntervalMs: this.#config.healthIntervalMs,
        timeoutMs: this.#config.healthTimeoutMs,
      }),
      { reading: (url, load) => hooks.engine?.(url, load), busy: () => hooks.busy?.() ?? true },
    );
  }

  /** Resolves names first (workers must not start with an empty fleet), then starts probing and discovery. */
  async start(): Promise<void> {
    await loadEngineParsers();
    if (this.#config.dnsRefreshMs > 0) await Promise.all(this.#config.backends.map((backend) => this.#resolveOne(backend)));
    this.#sync(false);
    this.#started = true;
    // Probes and model reads are spread evenly over their intervals, not sent in one burst per round.
    const members = [...this.#members.values()];
    for (const [i, member] of members.entries()) this.#watch(member, i / members.length);
    if (this.#config.dnsRefreshMs > 0) this.#every(this.#config.dnsRefreshMs, () => this.#refreshNames());
  }

  state(): FleetState {
    const now = Date.now();
    const members = [...this.#members.values()];
    const up = members.filter((member) => member.state.isUp(now));
    // In panic mode (nothing up) every backend is tried, so every backend's models are offered.
    const offering = up.length > 0 ? up : members;
    const cards = new Map<string, Record<string, unknown>>();
    for (const member of offering) {
      const known = member.source.models !== null ? syntheticCards(member.source.models) : (member.discovered ?? []);
      for (const card of known) if (!cards.has(card.id as string)) cards.set(card.id as string, card);
    }
    return { backends: members.map((member) => member.toState()), modelCards: [...cards.values()] };
  }

  /** Backends now, for the primary's own /healthz. */
  members(): readonly FleetMember[] {
    return [...this.#members.values()];
  }

  /** Traffic started after a quiet spell: read the engines at the busy pace from now. */
  wakeEngineReads(): void {
    this.#engines.wake();
  }

  /** A worker's verdict on a backend from live traffic. */
  onOut(verdict: BackendOut): void {
    const member = this.#members.get(verdict.url);
    if (member === undefined) return;
    const now = Date.now();
    const state = member.state;
    const taken = verdict.reason === 'max_fails' ? state.eject(now, this.#config.failTimeoutMs) : state.hold(now, verdict.forMs);
    if (!taken) return;
    this.#metrics.ejections.labels(member.url, verdict.reason).inc();
    const untilMs = verdict.reason === 'max_fails' ? state.ejectedUntilMs : state.heldUntilMs;
    if (verdict.reason === 'max_fails')
      this.#log.warn({ backend: member.url, forMs: untilMs - now }, 'backend taken out after repeated failures');
    this.#changed();
    // Its models return to the offered list when it is back.
    this.#after(untilMs - now, () => this.#changed());
  }

  /** Applies a reloaded configuration: new backends join (ramping up), removed ones leave, the rest keep their health. */
  async reconfigure(config: Config): Promise<void> {
    this.#config = config;
    if (config.dnsRefreshMs > 0) await Promise.all(config.backends.map((backend) => this.#resolveOne(backend)));
    this.#sync(true);
    // --load-interval turned on or off by the reload.
    for (const member of this.#members.values()) {
      if (config.loadIntervalMs > 0) this.#engines.watch(member);
      else this.#stopEngineReads(member.url);
    }
  }

  close(): void {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    if (this.#broadcastTimer !== null) clearTimeout(this.#broadcastTimer);
    this.#engines.close();
    for (const connection of this.#connections.values()) connection.close();
    this.#connections.clear();
  }

  /** Makes the members match the configured backends (and their resolved addresses). */
  #sync(late: boolean): void {
    const now = Date.now();
    const wanted = new Map<string, { source: BackendConfig; url: string; origin: string; host: string }>();
    for (const source of this.#config.backends) for (const where of this.#placesOf(source)) wanted.set(where.url, { source, ...where });
    for (const [url, where] of wanted) {
      const member = this.#members.get(url);
      if (member !== undefined) {
        member.source = where.source;
        continue;
      }
      const added = new FleetMember(where.source, where, now, late);
      this.#members.set(url, added);
      if (late) this.#log.info({ backend: url }, 'backend added');
      if (this.#started) this.#watch(added);
    }
    for (const [url, member] of this.#members) {
      if (wanted.has(url)) continue;
      this.#members.delete(url);
      this.#connections.get(url)?.close();
      this.#connections.delete(url);
      this.#log.info({ backend: url }, 'backend removed');
      this.#stopEngineReads(url);
      // Its state is gone with it (backend_up of a backend that no longer exists says nothing); its
      // counters stay for the grace period, so that a scrape sees their last values.
      this.#forgetGauges(member);
      this.#after(this.#config.removedSeriesGraceMs, () => {
        if (this.#members.has(url)) return;
        this.#forgetCounters(url);
        this.#hooks.forgotten(url);
      });
    }
    this.#changed();
  }

  /** Where a configured backend is: itself, or one place per address its name resolves to. */
  #placesOf(source: BackendConfig): Array<{ url: string; origin: string; host: string }> {
    const origin = new URL(source.origin);
    const addresses = this.#config.dnsRefreshMs > 0 ? this.#addresses.get(source.url) : undefined;
    if (addresses === undefined) return [{ url: source.url, origin: source.origin, host: origin.host }];
    return addresses.map((address) => {
      const at = new URL(source.origin);
      at.hostname = address.includes(':') ? `[${address}]` : address;
      return { url: at.origin + source.basePath, origin: at.origin, host: origin.host };
    });
  }

  async #resolveOne(source: BackendConfig): Promise<boolean> {
    const hostname = new URL(source.origin).hostname.replace(/^\[|\]$/g, '');
    try {
      const found = await this.#resolve(hostname);
      const before = this.#addresses.get(source.url);
      this.#addresses.set(source.url, found);
      return before === undefined || before.join() !== found.join();
    } catch (err) {
      // Keep the last known addresses: a resolver hiccup must not empty the fleet.
      this.#log.warn({ err, backend: source.url }, 'cannot resolve backend name, keeping its last addresses');
      if (!this.#addresses.has(source.url)) this.#addresses.set(source.url, []);
      return false;
    }
  }

  async #refreshNames(): Promise<void> {
    const changed = await Promise.all(this.#config.backends.map((backend) => this.#resolveOne(backend)));
    if (changed.some(Boolean) && !this.#closed) this.#sync(true);
  }

  /**
   * Starts the probe loop and the model discovery of a member. `phase` (0 to 1) places its first probe and
   * its second model read that far into their intervals; its models are read at once (routing needs them).
   */
  #watch(member: FleetMember, phase = 0): void {
    this.#metrics.weight.labels(member.url).set(member.source.weight);
    const { healthIntervalMs, discoveryIntervalMs } = this.#config;
    if (healthIntervalMs > 0) {
      const firstMs = Math.floor(healthIntervalMs * phase);
      if (firstMs === 0) void this.#probe(member);
      else this.#after(firstMs, () => void this.#probe(member));
    }
    void this.#discover(member, discoveryIntervalMs + Math.floor(discoveryIntervalMs * phase));
    this.#engines.watch(member, phase);
  }

  #stopEngineReads(url: string): void {
    this.#engines.forget(url);
    this.#hooks.engine?.(url, null);
  }

  async #probe(member: FleetMember): Promise<void> {
    if (this.#closed || this.#members.get(member.url) !== member) return;
    const config = this.#config;
    const outcome = await probeHealth(this.#connectionOf(member), member.basePath + config.healthPath, member.host, config.healthTimeoutMs);
    if (this.#closed || this.#members.get(member.url) !== member) return;
    this.#metrics.healthChecks.labels(member.url, outcome.result).inc();
    const transition = member.checked(
      { atMs: Date.now(), result: outcome.result, latencyMs: Math.round(outcome.latencyMs) },
      config.unhealthyThreshold,
      config.healthyThreshold,
    );
    if (transition === 'down') {
      this.#metrics.ejections.labels(member.url, 'health_check').inc();
      this.#log.warn({ backend: member.url, result: outcome.result, status: outcome.status }, 'backend down (health checks failed)');
    } else if (transition === 'up') {
      this.#log.info({ backend: member.url }, 'backend up again (health checks pass)');
      // Back up: read its models again, they may have changed while it was down.
      void this.#discover(member, null);
    }
    if (transition === null) this.#checked.add(member);
    this.#changed(transition !== null);
    if (config.healthIntervalMs > 0) this.#after(config.healthIntervalMs, () => void this.#probe(member));
  }

  /** Reads the member's models, and again `nextInMs` later (then every interval); null: once. */
  async #discover(member: FleetMember, nextInMs: number | null): Promise<void> {
    if (this.#closed || this.#members.get(member.url) !== member || member.source.models !== null) return;
    if (this.#config.discoveryIntervalMs === 0) return;
    const cards = await discoverModels(this.#connectionOf(member), `${member.basePath}/v1/models`, member.host);
    if (this.#closed || this.#members.get(member.url) !== member) return;
    if (cards !== null) {
      const before = member.models?.join('\u0000');
      const changed = JSON.stringify(member.discovered) !== JSON.stringify(cards);
      member.discovered = cards;
      if (before !== member.models?.join('\u0000')) this.#log.info({ backend: member.url, models: member.models }, 'backend models');
      if (changed) this.#changed();
    }
    const interval = this.#config.discoveryIntervalMs;
    if (nextInMs !== null) this.#after(nextInMs, () => void this.#discover(member, interval));
  }

  #connectionOf(member: FleetMember): ProbeConnection {
    let connection = this.#connections.get(member.url);
    if (connection === undefined) {
      connection = new ProbeConnection(member.origin);
      this.#connections.set(member.url, connection);
    }
    return connection;
  }

  /**
   * Schedules one broadcast for the changes of this turn, and brings the fleet gauges and the panic log up
   * to date. `urgent`: a change routing depends on; otherwise (a probe's own record) within a second.
   */
  #changed(urgent = true): void {
    if (this.#closed) return;
    if (urgent) this.#stateChanged = true;
    const atMs = Date.now() + (urgent ? BROADCAST_COALESCE_MS : LAST_CHECK_COALESCE_MS);
    if (this.#broadcastTimer !== null) {
      if (this.#broadcastAtMs <= atMs) return;
      clearTimeout(this.#broadcastTimer);
    }
    this.#broadcastAtMs = atMs;
    this.#broadcastTimer = setTimeout(() => this.#broadcast(), atMs - Date.now());
    this.#broadcastTimer.unref();
  }

  #broadcast(): void {
    this.#broadcastTimer = null;
    const checked = [...this.#checked];
    this.#checked.clear();
    if (this.#stateChanged) {
      this.#stateChanged = false;
      this.#refreshGauges();
      this.#hooks.changed(this.state());
      return;
    }
    const records: CheckRecords = [];
    for (const member of checked) if (this.#members.get(member.url) === member) records.push([member.url, member.lastCheck]);
    if (records.length > 0) this.#hooks.checked(records);
  }

  #refreshGauges(): void {
    const now = Date.now();
    let anyUp = false;
    for (const member of this.#members.values()) {
      const up = member.state.isUp(now);
      anyUp ||= up;
      this.#metrics.up.labels(member.url).set(up ? 1 : 0);
      this.#metrics.weight.labels(member.url).set(member.source.weight);
      this.#exportModels(member.url, member.models ?? []);
    }
    const panic = !anyUp && this.#members.size > 0;
    if (panic !== this.#panic) {
      this.#panic = panic;
      if (panic) this.#log.error({ backends: this.#members.size }, 'no backend is up: panic mode, requests go to every backend');
      else this.#log.info({}, 'a backend is up again: panic mode over');
    }
  }

  #exportModels(url: string, models: readonly string[]): void {
    const exported = this.#exportedModels.get(url) ?? new Set<string>();
    this.#exportedModels.set(url, exported);
    const now = new Set(models);
    for (const model of exported) if (!now.has(model)) this.#metrics.models.remove({ url, model });
    for (const model of now) this.#metrics.models.labels(url, model).set(1);
    this.#exportedModels.set(url, now);
  }

  #forgetGauges(member: FleetMember): void {
    const url = member.url;
    this.#metrics.up.remove({ url });
    this.#metrics.weight.remove({ url });
    this.#exportModels(url, []);
    this.#exportedModels.delete(url);
  }

  #forgetCounters(url: string): void {
    for (const result of HEALTH_RESULTS) this.#metrics.healthChecks.remove({ url, result });
    for (const reason of EJECTION_REASONS) this.#metrics.ejections.remove({ url, reason });
  }

  #after(ms: number, run: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      run();
    }, ms);
    timer.unref();
    this.#timers.add(timer);
  }

  #every(ms: number, run: () => Promise<void>): void {
    this.#after(ms, () => {
      void run().finally(() => {
        if (!this.#closed) this.#every(ms, run);
      });
    });
  }
}

/** Cards for configured models, shaped like an OpenAI model list's. */
function syntheticCards(models: readonly string[]): Record<string, unknown>[] {
  return models.map((id) => ({ id, object: 'model', created: 0, owned_by: 'inference-proxy' }));
}
