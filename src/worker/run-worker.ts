import cluster from 'node:cluster';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { WORKER_STATE_ENV } from '../config/defaults.js';
import type { Config } from '../config/types.js';
import { registerDefaultMetrics } from '../metrics/default-metrics.js';
import { createWorkerMetrics } from '../metrics/definitions.js';
import { createRequestRecorder } from '../metrics/request-recorder.js';
import { type MetricsDelta, SnapshotDiffer } from '../metrics/snapshot-delta.js';
import { type ConfigStatus, configHealth, FIRST_CONFIG } from '../shared/config-status.js';
import type { FleetState } from '../shared/fleet.js';
import { healthBody } from '../shared/health.js';
import { isProxyMessage, type PrimaryToWorker, type WorkerInfo, type WorkerToPrimary } from '../shared/ipc.js';
import { createLogger, flushLogger, type Logger } from '../shared/logger.js';
import { ERR_DRAIN_DEADLINE, ProxyError } from '../shared/proxy-error.js';
import { createWorkerTenants } from '../tenants/worker-tenants.js';
import { channelSender } from './channel-sender.js';
import { createProxyServer, type ProxyServer } from './create-proxy-server.js';
import { MetricsRelay } from './metrics-relay.js';
import { WorkerFleet } from './worker-fleet.js';

const DRAIN_POLL_MS = 100;
/** A draining worker closes a keep-alive connection once it has been idle this long (see ConnectionTracker). */
const DRAIN_IDLE_GRACE_MS = 1_000;
const FINAL_ACK_TIMEOUT_MS = 2_000;
const ABORT_SETTLE_MS = 50;
/** How long a worker that cannot listen waits for its report to reach the primary before exiting anyway. */
const LISTEN_FAILED_REPORT_MS = 1_000;
/** Idle backend sockets close at once; this only bounds a backend that does not answer the close. */
const UPSTREAM_CLOSE_TIMEOUT_MS = 1_000;

/** Resolves when `work` settles or after `ms`, whichever comes first. */
function withDeadline(work: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    work.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/** A worker: one HTTP server that proxies; it answers the primary's metrics requests and drains on request. */
export function runWorker(config: Config): void {
  const workerId = cluster.worker?.id ?? 0;
  const log = createLogger(config, { role: 'worker', worker: workerId });
  const registry = new Registry();
  registerDefaultMetrics(registry);
  const metrics = createWorkerMetrics(registry);
  const recorder = createRequestRecorder(metrics, config.maxInFlightPerWorker);
  const send = channelSender<WorkerToPrimary>(process);
  const relay = new MetricsRelay(send);
  const tenants = createWorkerTenants(config, registry, send);
  // Until the first broadcast, what the primary knew at fork time (never "0 workers alive" while we serve).
  const initial = JSON.parse(process.env[WORKER_STATE_ENV] ?? '{}') as {
    workersAlive?: number;
    startedAtMs?: number;
    workers?: WorkerInfo[];
    fleet?: FleetState;
    config?: ConfigStatus;
  };
  const fleet = new WorkerFleet(config, metrics, recorder, workerId, initial.fleet ?? { backends: [], modelCards: [] }, {
    reportLoad: (load) => send({ type: 'iproxy:load', load }),
    out: (verdict) => send({ type: 'iproxy:backend-out', verdict }),
    queue: (message) => send(message),
  });
  const state = {
    workersAlive: Math.max(1, initial.workersAlive ?? 0),
    startedAtMs: initial.startedAtMs ?? Date.now(),
    workers: initial.workers ?? [],
    config: initial.config ?? FIRST_CONFIG,
  };
  const proxy = createProxyServer({
    config,
    fleet,
    malformed: metrics.malformedRequests,
    log,
    tenants: tenants.gate,
    own: {
      metrics: () => relay.request(),
      history: () => relay.request('iproxy:history-req'),
      health: () => {
        const backends = fleet.health();
        return {
          status: backends.anyUp ? 200 : 503,
          body: {
            status: backends.anyUp ? 'ok' : 'no_backend_up',
            ...healthBody(state.workersAlive, state.startedAtMs, process.pid, state.workers),
            primaryPid: process.ppid,
            config: configHealth(state.config),
            backends: backends.backends,
          },
        };
      },
    },
  });
  // Each answer to the primary holds what changed since the one before; answers are made one at a time.
  const differ = new SnapshotDiffer(registry);
  let reading: Promise<unknown> = Promise.resolve();
  const snapshot = (full: boolean): Promise<MetricsDelta> => {
    const next = reading.then(() => metrics.readFresh(() => differ.next(full)));
    reading = next.catch(() => undefined);
    return next;
  };
  let finalAck: (() => void) | null = null;
  const drain = createDrain(config, proxy, fleet, log, async () => {
    // Every request has ended: what this worker holds of the keys' limits goes back before it exits.
    tenants.gate.releaseAll();
    const delta = await snapshot(false);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, FINAL_ACK_TIMEOUT_MS);
      finalAck = () => {
        clearTimeout(timer);
        resolve();
      };
      if (!send({ type: 'iproxy:final-metrics', delta })) finalAck();
    });
  });

  process.on('message', (message: unknown) => {
    if (!isProxyMessage<PrimaryToWorker>(message)) return;
    switch (message.type) {
      case 'iproxy:metrics-req':
        void snapshot(message.full).then((delta) => send({ type: 'iproxy:metrics-res', id: message.id, delta }));
        break;
      case 'iproxy:scrape-res':
      case 'iproxy:history-res':
        relay.onAnswer(message);
        break;
      case 'iproxy:state':
        state.workersAlive = message.workersAlive;
        state.startedAtMs = message.startedAtMs;
        state.workers = message.workers;
        state.config = message.config;
        break;
      case 'iproxy:drain':
        drain(message.deadlineMs);
        break;
      case 'iproxy:final-ack':
        (finalAck as (() => void) | null)?.();
        break;
      case 'iproxy:fleet':
        fleet.apply(message.fleet);
        break;
      case 'iproxy:checks':
        fleet.applyChecks(message.checks);
        break;
      case 'iproxy:loads':
        fleet.onLoads(message.loads);
        break;
      case 'iproxy:verdicts':
        tenants.client.onMessage(message);
        break;
      case 'iproxy:queue-grant':
      case 'iproxy:queue-expired':
      case 'iproxy:queue-state':
      case 'iproxy:engines':
        fleet.onQueueMessage(message);
        break;
    }
  });
  // pm2's treekill and a terminal's Ctrl-C signal the workers directly: drain, do not die mid-stream.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => drain(config.drainTimeoutMs));
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception in worker');
    flushLogger(log);
    process.exit(1);
  });

  proxy.server.once('error', (err: NodeJS.ErrnoException) => {
    // EADDRINUSE, EADDRNOTAVAIL, EACCES: nothing to serve. The primary says so: at the first start it
    // exits with one line; later it restarts us with backoff.
    const exit = (): void => {
      flushLogger(log);
      process.exit(1);
    };
    setTimeout(exit, LISTEN_FAILED_REPORT_MS).unref();
    const report: WorkerToPrimary = { type: 'iproxy:listen-failed', code: err.code ?? 'error' };
    if (process.connected && process.send !== undefined) process.send(report, exit);
    else exit();
  });
  proxy.server.listen(config.port, config.host, () => {
    const address = proxy.server.address() as AddressInfo;
    send({ type: 'iproxy:ready', address: address.address, port: address.port });
  });
}

function createDrain(
  config: Config,
  proxy: ProxyServer,
  fleet: WorkerFleet,
  log: Logger,
  sendFinal: () => Promise<void>,
): (deadlineMs: number) => void {
  let started = false;
  return (deadlineMs) => {
    if (started) return;
    started = true;
    const deadline = Date.now() + deadlineMs;
    log.info({ inFlight: proxy.inFlight(), deadlineMs }, 'worker draining');
    proxy.startDraining();
    // net.Server's close, not http.Server's: since Node 19 the latter also destroys every idle keep-alive
    // connection at once, and one whose next request is already in flight would see a reset.
    net.Server.prototype.close.call(proxy.server);
    const timer = setInterval(() => {
      proxy.closeIdle(DRAIN_IDLE_GRACE_MS);
      // Done when every client connection is gone: busy ones close after their response, idle ones after the grace.
      if ((proxy.inFlight() > 0 || proxy.openConnections() > 0) && Date.now() < deadline) return;
      clearInterval(timer);
      const left = proxy.inFlight();
      if (left > 0) {
        log.warn({ inFlight: left }, 'drain deadline reached, closing the remaining requests');
        proxy.abortAll(new ProxyError(ERR_DRAIN_DEADLINE, 'the drain deadline passed with the request still running'));
      }
      proxy.server.closeAllConnections();
      // Aborted exchanges record their outcome on the next turns of the loop; snapshot after that.
      void delay(left > 0 ? ABORT_SETTLE_MS : 0)
        .then(sendFinal)
        .catch((err: unknown) => log.error({ err }, 'final metrics snapshot failed'))
        // Every exchange has ended by now: closing the pools only ends idle backend sockets (bounded all
        // the same, so a backend that never acknowledges the FIN cannot hold the exit).
        .then(() => withDeadline(fleet.close(), UPSTREAM_CLOSE_TIMEOUT_MS))
        .catch((err: unknown) => log.warn({ err }, 'closing the backend connections failed'))
        .finally(() => {
          log.info({ drainTimeoutMs: config.drainTimeoutMs }, 'worker exiting');
          flushLogger(log);
          process.exit(0);
        });
    }, DRAIN_POLL_MS);
  };
}
