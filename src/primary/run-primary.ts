import cluster from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import type { Config } from '../config/types.js';
import { createDashboardHistory } from '../dashboard/dashboard-history.js';
import { DASHBOARD_FAMILIES } from '../dashboard/dashboard-series.js';
import { registerDefaultMetrics } from '../metrics/default-metrics.js';
import { createPrimaryMetrics } from '../metrics/definitions.js';
import { createFleetMetrics } from '../metrics/fleet-metrics.js';
import { createTenantPrimaryMetrics } from '../metrics/tenant-metrics.js';
import { type ConfigStatus, configHealth, FIRST_CONFIG, type ReloadResult } from '../shared/config-status.js';
import { fleetHealth, healthBody } from '../shared/health.js';
import { createLogger, flushLogger } from '../shared/logger.js';
import { VERSION } from '../shared/version.js';
import { AdmissionService } from '../tenants/admission-service.js';
import { createLimitStore } from '../tenants/create-limit-store.js';
import { redactedUrl } from '../tenants/redis-store.js';
import { Fleet } from './fleet.js';
import { LoadTable } from './load-table.js';
import { MetricsAggregator } from './metrics-aggregator.js';
import { createMetricsServer, listen } from './metrics-server.js';
import { QueueKeeper } from './queue-keeper.js';
import { reloadedConfig } from './reload.js';
import { listenProblem, StartError } from './start-error.js';
import { Supervisor } from './supervisor.js';

const WORKER_ENTRY = fileURLToPath(new URL('../main.js', import.meta.url));

/**
 * The primary: serves no proxy traffic. Forks and supervises the workers, merges their metrics,
 * turns signals into a graceful stop (SIGINT, SIGTERM) or a rolling restart (SIGHUP).
 */
export async function runPrimary(initialConfig: Config, argv: readonly string[], warnings: readonly string[] = []): Promise<void> {
  let config = initialConfig;
  const log = createLogger(config, { role: 'primary' });
  const startedAtMs = Date.now();
  const registry = new Registry();
  registerDefaultMetrics(registry);
  const metrics = createPrimaryMetrics(registry);
  metrics.workersConfigured.set(config.workers);
  const aggregator = new MetricsAggregator(registry, metrics);
  // The keys' limits for every worker: admissions come over IPC and are answered from here.
  const tenantMetrics = createTenantPrimaryMetrics(
    registry,
    () => limits.budgets(),
    () => config.keys.flatMap((key) => (key.limits.budget === null ? [] : [[key.name, key.limits.budget.tokens] as [string, number]])),
  );
  const limits = createLimitStore(config, log, tenantMetrics.storeErrors);
  const admission = new AdmissionService(limits, (workerId, message) => {
    const worker = cluster.workers?.[workerId];
    if (worker === undefined || !worker.isConnected()) return false;
    supervisor.send(worker, message);
    return true;
  });
  const loads = new LoadTable((table) =>
    supervisor.broadcast({ type: 'iproxy:loads', loads: table.map(([id, load]) => [id, { ...load }]) }),
  );
  const queue = new QueueKeeper(config, registry, loads, {
    send: (workerId, message) => {
      const worker = cluster.workers?.[workerId];
      if (worker !== undefined) supervisor.send(worker, message);
    },
    broadcast: (message) => supervisor.broadcast(message),
  });
  const fleet = new Fleet(config, log, createFleetMetrics(registry), {
    changed: (state) => {
      aggregator.fleetUrls(state.backends.map((backend) => backend.url));
      queue.fleet(state);
      supervisor.broadcast({ type: 'iproxy:fleet', fleet: state });
    },
    checked: (checks) => supervisor.broadcast({ type: 'iproxy:checks', checks }),
    forgotten: (url) => aggregator.forgetUrl(url),
    engine: (url, load) => queue.engine(url, load),
    busy: () => queue.busy(),
  });

  // Explicit exec: under pm2 fork mode process.argv[1] is pm2's container, not our entry.
  cluster.schedulingPolicy = config.clusterScheduling === 'rr' ? cluster.SCHED_RR : cluster.SCHED_NONE;
  // IPC with the V8 serializer: a scrape's text (MBs at 256 backends) crosses as a copy of its bytes, not as a
  // JSON string escaped on one side and parsed on the other (issue 18).
  cluster.setupPrimary({ exec: WORKER_ENTRY, args: [], silent: false, serialization: 'advanced' });
  const supervisor: Supervisor = new Supervisor(config, log, metrics, {
    onFork: (worker) => aggregator.track(worker.id),
    onExit: (worker) => {
      aggregator.retire(worker.id);
      admission.workerGone(worker.id);
      loads.remove(worker.id);
      queue.workerGone(worker.id);
    },
    state: () => ({
      workersAlive: supervisor.readyCount(),
      startedAtMs,
      workers: supervisor.describe(),
      fleet: fleet.state(),
      config: status,
    }),
    onChange: () => {
      metrics.workersAlive.set(supervisor.readyCount());
      publishState();
      // A worker only listens for messages once it runs: what changed while it started reaches it here.
      supervisor.broadcast({ type: 'iproxy:fleet', fleet: fleet.state() });
      for (const worker of supervisor.workers()) queue.welcome(worker.id);
    },
    onMessage: (worker, message) => {
      switch (message.type) {
        case 'iproxy:metrics-res':
          aggregator.onSnapshot(worker.id, message.id, message.delta);
          break;
        case 'iproxy:final-metrics':
          aggregator.onFinalSnapshot(worker.id, message.delta);
          supervisor.send(worker, { type: 'iproxy:final-ack' });
          break;
        case 'iproxy:scrape-req':
          void scrape().then((answer) => supervisor.send(worker, { type: 'iproxy:scrape-res', id: message.id, ...answer }));
          break;
        case 'iproxy:load': {
          const wasBusy = loads.busy();
          loads.report(worker.id, message.load);
          // Traffic after a quiet spell: read the engines at the busy pace at once.
          if (!wasBusy && loads.busy()) fleet.wakeEngineReads();
          queue.loadChanged();
          break;
        }
        case 'iproxy:queue-enter':
        case 'iproxy:queue-leave':
        case 'iproxy:queue-sent':
          queue.onMessage(worker.id, message);
          break;
        case 'iproxy:backend-out':
          fleet.onOut(message.verdict);
          break;
        case 'iproxy:limits':
          admission.onGive(worker.id, message.g);
          admission.onLease(worker.id, message.q);
          break;
        case 'iproxy:history-req':
          supervisor.send(worker, { type: 'iproxy:history-res', id: message.id, ...historyAnswer() });
          break;
      }
    },
  });

  /** The configuration in force and the last reload's fate, in every /healthz. */
  let status: ConfigStatus = FIRST_CONFIG;
  const publishState = (): void => {
    const alive = supervisor.readyCount();
    supervisor.broadcast({ type: 'iproxy:state', workersAlive: alive, startedAtMs, workers: supervisor.describe(), config: status });
  };

  const scrape = async () => {
    try {
      return { status: 200, contentType: aggregator.contentType, body: await aggregator.render(supervisor.workers()) };
    } catch (err) {
      log.error({ err }, 'metrics aggregation failed');
      return { status: 500, contentType: 'text/plain', body: 'metrics aggregation failed\n' };
    }
  };
  const history = createDashboardHistory(async () => {
    try {
      return await aggregator.renderFamilies(supervisor.workers(), DASHBOARD_FAMILIES);
    } catch (err) {
      log.error({ err }, 'metrics aggregation failed');
      return null;
    }
  }, config.dashboardSampleMs);
  const historyAnswer = () => ({ status: 200, contentType: 'application/json', body: history.json() });
  const health = () => {
    const totals = loads.totals();
    const backends = fleetHealth(fleet.state().backends, (url) => totals.get(url) ?? 0);
    return {
      status: backends.anyUp ? 200 : 503,
      body: {
        status: backends.anyUp ? 'ok' : 'no_backend_up',
        ...healthBody(supervisor.readyCount(), startedAtMs, process.pid, supervisor.describe()),
        primaryPid: process.pid,
        config: configHealth(status),
        backends: backends.backends,
      },
    };
  };

  const metricsServer =
    config.metricsPort === null ? null : createMetricsServer({ metrics: scrape, history: async () => historyAnswer(), health });
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) {
      log.warn({ signal }, 'second signal: killing the workers now');
      for (const worker of supervisor.workers()) worker.process.kill('SIGKILL');
      flushLogger(log);
      process.exit(1);
    }
    stopping = true;
    log.info({ signal, drainTimeoutMs: config.drainTimeoutMs }, 'stopping: draining workers');
    history.close();
    await supervisor.stop();
    fleet.close();
    queue.close();
    loads.close();
    await limits.close();
    metricsServer?.close();
    log.info({}, 'stopped');
    flushLogger(log);
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  // SIGHUP: re-read the configuration (the --config file, the environment), put the new backend list in
  // force at once, then replace the workers one at a time so every other flag takes effect too. One reload
  // at a time, in the order the signals came: each one's verdict is in /healthz (`config`) when it is done.
  const reload = async (): Promise<void> => {
    const reloadStatus = (result: ReloadResult, error: string | null = null, generation = status.generation): void => {
      status = { generation, reloads: status.reloads, lastReload: { result, atMs: Date.now(), error } };
      publishState();
    };
    status = { ...status, reloads: status.reloads + 1 };
    reloadStatus('restarting');
    const next = await reloadedConfig(config, argv, log, status.generation);
    if ('error' in next) {
      reloadStatus('rejected', next.error);
      return;
    }
    config = next.config;
    limits.reconfigure(config.keys);
    queue.reconfigure(config);
    await fleet.reconfigure(config);
    supervisor.reconfigure(config);
    const generation = status.generation + 1;
    log.info({ generation }, 'configuration reloaded, replacing the workers');
    reloadStatus('restarting', null, generation);
    const replaced = await supervisor.rollingRestart();
    reloadStatus(replaced ? 'applied' : 'failed', replaced ? null : 'the workers were not all replaced (see the log)');
  };
  let reloads = Promise.resolve();
  process.on('SIGHUP', () => {
    reloads = reloads.then(reload).catch((err: unknown) => log.error({ err }, 'configuration reload failed'));
  });

  log.info({ version: VERSION, node: process.version, config: summarize(config) }, 'starting');
  for (const problem of warnings) log.warn({ problem }, 'configuration warning');
  // A port that cannot be bound is fatal at once, with one line (main.ts exits 2): see StartError.
  const cannotListen = (flags: { host: string; port: string }, host: string, port: number, err: unknown): StartError => {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    log.fatal({ host, port, code }, 'cannot listen');
    flushLogger(log);
    return new StartError(listenProblem(flags, host, port, code));
  };
  if (metricsServer !== null) {
    const port = config.metricsPort as number;
    const address = await listen(metricsServer, port, config.metricsHost).catch((err: unknown) => {
      throw cannotListen({ host: 'metrics-host', port: 'metrics-port' }, config.metricsHost, port, err);
    });
    log.info({ address: address.address, port: address.port }, 'metrics port listening');
  }
  await fleet.start();
  await limits.start();
  try {
    await supervisor.start();
  } catch (err) {
    fleet.close();
    loads.close();
    metricsServer?.close();
    throw cannotListen({ host: 'host', port: 'port' }, config.host, config.port, err);
  }
  // Sampling starts once every worker listens: a worker still starting would only delay the merge.
  history.start();
  log.info(
    { host: config.host, port: supervisor.listeningPort, workers: config.workers, backends: fleet.members().map((m) => m.url) },
    'proxy ready',
  );
  // pm2 wait_ready: only once every worker listens.
  process.send?.('ready');
}

function summarize(config: Config): Record<string, unknown> {
  return {
    ...config,
    backends: config.backends.map((b) => b.url),
    keys: config.keys.map((key) => key.name),
    redisUrl: config.redisUrl === null ? null : redactedUrl(config.redisUrl),
  };
}
