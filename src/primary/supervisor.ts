import cluster, { type Worker } from 'node:cluster';
import { WORKER_CONFIG_ENV, WORKER_STATE_ENV } from '../config/defaults.js';
import type { Config } from '../config/types.js';
import type { PrimaryMetrics } from '../metrics/definitions.js';
import type { ConfigStatus } from '../shared/config-status.js';
import type { FleetState } from '../shared/fleet.js';
import { isProxyMessage, type PrimaryToWorker, type WorkerInfo, type WorkerToPrimary } from '../shared/ipc.js';
import type { Logger } from '../shared/logger.js';
import { CRASH_LOOP_THRESHOLD, restartDelayMs, STABLE_UPTIME_MS } from './backoff.js';

const WORKER_START_TIMEOUT_MS = 30_000;
/** After the drain deadline, how long a worker gets to send its final metrics and exit before SIGKILL. */
const EXIT_MARGIN_MS = 5_000;

type WorkerState = 'starting' | 'ready' | 'draining';

interface Managed {
  readonly worker: Worker;
  readonly slot: Slot;
  readonly startedAtMs: number;
  state: WorkerState;
  readonly ready: Promise<boolean>;
  settleReady: (ok: boolean) => void;
}

interface Slot {
  readonly index: number;
  current: Managed | null;
  failures: number;
  restartTimer: NodeJS.Timeout | null;
}

export interface SupervisorHooks {
  onMessage(worker: Worker, message: WorkerToPrimary): void;
  onFork(worker: Worker): void;
  onExit(worker: Worker): void;
  onChange(): void;
  /** The cluster state handed to a new worker at fork time. */
  state(): { workersAlive: number; startedAtMs: number; workers: WorkerInfo[]; fleet: FleetState; config: ConfigStatus };
}

/**
 * Forks one worker per slot, replaces workers that die (with capped exponential backoff, so a crash
 * loop is loud but never busy), replaces them one at a time on a rolling restart, and drains them on stop.
 */
export class Supervisor {
  #config: Config;
  readonly #log: Logger;
  readonly #metrics: PrimaryMetrics;
  readonly #hooks: SupervisorHooks;
  readonly #slots: Slot[];
  readonly #managed = new Map<number, Managed>();
  #stopping = false;
  #rolling = false;
  /** Until every slot first listens: a worker that cannot listen then fails start() instead of crash-looping. */
  #failFirstStart: ((code: string) => void) | null = null;
  /** The port the workers share, as they report it (differs from config.port when that is 0). */
  listeningPort = 0;

  constructor(config: Config, log: Logger, metrics: PrimaryMetrics, hooks: SupervisorHooks) {
    this.#config = config;
    this.#log = log;
    this.#metrics = metrics;
    this.#hooks = hooks;
    this.#slots = Array.from({ length: config.workers }, (_, index) => ({ index, current: null, failures: 0, restartTimer: null }));
    cluster.on('message', (worker, message: unknown) => this.#onMessage(worker, message));
    cluster.on('exit', (worker, code, signal) => this.#onExit(worker, code, signal));
  }

  /**
   * Resolves once every slot has a listening worker. Rejects with the error code when a worker cannot
   * listen (a port taken, an address the machine does not have): retrying would only crash-loop while the
   * process looks alive to pm2, systemd or Docker. The workers are gone by then.
   */
  async start(): Promise<void> {
    const failed = new Promise<never>((_, reject) => {
      this.#failFirstStart = (code) => reject(Object.assign(new Error(`a worker cannot listen (${code})`), { code }));
    });
    const first = this.#slots.map((slot) => this.#fork(slot));
    try {
      await Promise.race([Promise.all(first.map((managed) => this.#untilSlotReady(managed.slot))), failed]);
    } catch (err) {
      this.#stopping = true;
      for (const slot of this.#slots) if (slot.restartTimer) clearTimeout(slot.restartTimer);
      const all = [...this.#managed.values()];
      for (const managed of all) managed.worker.process.kill('SIGKILL');
      await Promise.all(all.map((managed) => this.#untilExit(managed.worker)));
      throw err;
    } finally {
      this.#failFirstStart = null;
    }
  }

  /** Every worker that can still answer IPC, draining ones included (their counts still matter). */
  workers(): Worker[] {
    const out: Worker[] = [];
    for (const managed of this.#managed.values()) if (managed.worker.isConnected()) out.push(managed.worker);
    return out;
  }

  /** Every managed worker with its pid and state, for /healthz. */
  describe(): WorkerInfo[] {
    const out: WorkerInfo[] = [];
    for (const managed of this.#managed.values()) {
      out.push({ id: managed.worker.id, pid: managed.worker.process.pid ?? 0, state: managed.state, startedAtMs: managed.startedAtMs });
    }
    return out;
  }

  readyCount(): number {
    let count = 0;
    for (const managed of this.#managed.values()) if (managed.state === 'ready') count++;
    return count;
  }

  broadcast(message: PrimaryToWorker): void {
    for (const worker of this.workers()) this.#send(worker, message);
  }

  send(worker: Worker, message: PrimaryToWorker): void {
    this.#send(worker, message);
  }

  /** The configuration workers forked from now on start with (a reload); the slots stay as they are. */
  reconfigure(config: Config): void {
    this.#config = config;
  }

  /**
   * Replaces the workers one at a time: each new one is listening before its predecessor drains. False
   * when it did not replace them all (a new worker did not become ready, or the proxy is stopping).
   */
  async rollingRestart(): Promise<boolean> {
    if (this.#rolling || this.#stopping) {
      this.#log.warn({ rolling: this.#rolling, stopping: this.#stopping }, 'rolling restart ignored');
      return false;
    }
    this.#rolling = true;
    this.#log.info({ workers: this.#slots.length }, 'rolling restart started');
    try {
      for (const slot of this.#slots) {
        const old = slot.current;
        if (old === null || this.#stopping) continue;
        const replacement = this.#fork(slot);
        this.#metrics.workerRestarts.inc();
        if (!(await replacement.ready)) {
          this.#log.error({ slot: slot.index }, 'rolling restart aborted: the new worker did not become ready');
          return false;
        }
        this.#drain(old, this.#config.drainTimeoutMs);
      }
      if (this.#stopping) return false;
      this.#log.info({}, 'rolling restart finished');
      return true;
    } finally {
      this.#rolling = false;
    }
  }

  /** Drains every worker (bounded by the drain timeout plus a margin, then SIGKILL) and resolves when all are gone. */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const slot of this.#slots) if (slot.restartTimer) clearTimeout(slot.restartTimer);
    const all = [...this.#managed.values()];
    for (const managed of all) this.#drain(managed, this.#config.drainTimeoutMs);
    await Promise.all(all.map((managed) => this.#untilExit(managed.worker)));
  }

  #fork(slot: Slot): Managed {
    slot.restartTimer = null;
    const worker = cluster.fork({
      [WORKER_CONFIG_ENV]: JSON.stringify(this.#config),
      [WORKER_STATE_ENV]: JSON.stringify(this.#hooks.state()),
    });
    // A send to a worker whose channel is closing fails asynchronously as an 'error' event on the
    // Worker; unhandled, it would take the primary down during a stop.
    worker.on('error', (err) => this.#log.debug({ err, worker: worker.id }, 'ipc error'));
    let settleReady: (ok: boolean) => void = () => undefined;
    const ready = new Promise<boolean>((resolve) => {
      settleReady = resolve;
    });
    const managed: Managed = { worker, slot, startedAtMs: Date.now(), state: 'starting', ready, settleReady };
    this.#managed.set(worker.id, managed);
    slot.current = managed;
    this.#hooks.onFork(worker);
    const startTimer = setTimeout(() => {
      if (managed.state !== 'starting') return;
      this.#log.error({ worker: worker.id, timeoutMs: WORKER_START_TIMEOUT_MS }, 'worker did not start listening in time, killing it');
      worker.process.kill('SIGKILL');
    }, WORKER_START_TIMEOUT_MS);
    startTimer.unref();
    void ready.then(() => clearTimeout(startTimer));
    return managed;
  }

  #untilSlotReady(slot: Slot): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        const current = slot.current;
        if (current === null) {
          setTimeout(check, 50);
          return;
        }
        void current.ready.then((ok) => (ok ? resolve() : setTimeout(check, 50)));
      };
      check();
    });
  }

  #drain(managed: Managed, deadlineMs: number): void {
    if (managed.state === 'draining') return;
    managed.state = 'draining';
    this.#hooks.onChange();
    this.#send(managed.worker, { type: 'iproxy:drain', deadlineMs });
    const killTimer = setTimeout(() => {
      if (!managed.worker.isDead()) {
        this.#log.error({ worker: managed.worker.id }, 'worker did not exit after its drain deadline, killing it');
        managed.worker.process.kill('SIGKILL');
      }
    }, deadlineMs + EXIT_MARGIN_MS);
    killTimer.unref();
    managed.worker.once('exit', () => clearTimeout(killTimer));
  }

  #untilExit(worker: Worker): Promise<void> {
    if (worker.isDead()) return Promise.resolve();
    return new Promise((resolve) => worker.once('exit', () => resolve()));
  }

  #send(worker: Worker, message: PrimaryToWorker): void {
    if (!worker.isConnected()) return;
    try {
      worker.send(message);
    } catch (err) {
      this.#log.debug({ err, worker: worker.id }, 'ipc send failed');
    }
  }

  #onMessage(worker: Worker, message: unknown): void {
    if (!isProxyMessage<WorkerToPrimary>(message)) return;
    const managed = this.#managed.get(worker.id);
    if (message.type === 'iproxy:ready' && managed !== undefined && managed.state === 'starting') {
      managed.state = 'ready';
      managed.settleReady(true);
      this.listeningPort = message.port;
      this.#log.info({ worker: worker.id, worker_pid: worker.process.pid, port: message.port }, 'worker listening');
      this.#hooks.onChange();
    }
    if (message.type === 'iproxy:listen-failed') {
      if (this.#failFirstStart !== null) this.#failFirstStart(message.code);
      else
        this.#log.error(
          { worker: worker.id, host: this.#config.host, port: this.#config.port, code: message.code },
          'worker cannot listen',
        );
    }
    this.#hooks.onMessage(worker, message);
  }

  #onExit(worker: Worker, code: number | null, signal: string | null): void {
    const managed = this.#managed.get(worker.id);
    if (managed === undefined) return;
    this.#managed.delete(worker.id);
    managed.settleReady(false);
    this.#hooks.onExit(worker);
    this.#hooks.onChange();
    const { slot } = managed;
    if (managed.state === 'draining' || this.#stopping || slot.current !== managed) {
      this.#log.info({ worker: worker.id, worker_pid: worker.process.pid, code, signal }, 'worker exited');
      return;
    }
    slot.current = null;
    const uptimeMs = Date.now() - managed.startedAtMs;
    slot.failures = uptimeMs >= STABLE_UPTIME_MS ? 1 : slot.failures + 1;
    const delayMs = restartDelayMs(slot.failures);
    const fields = {
      worker: worker.id,
      worker_pid: worker.process.pid,
      code,
      signal,
      uptimeMs,
      failures: slot.failures,
      restartInMs: delayMs,
    };
    if (slot.failures >= CRASH_LOOP_THRESHOLD) this.#log.error(fields, 'worker crash loop: restarting with backoff');
    else this.#log.warn(fields, 'worker died, restarting it');
    slot.restartTimer = setTimeout(() => {
      if (this.#stopping) return;
      this.#fork(slot);
      this.#metrics.workerRestarts.inc();
    }, delayMs);
  }
}
