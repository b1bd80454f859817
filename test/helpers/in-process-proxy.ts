import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { Registry } from 'prom-client';
import { configFromFlags } from '../../src/config/build-config.js';
import { FLAGS } from '../../src/config/flags.js';
import type { Config } from '../../src/config/types.js';
import { createWorkerMetrics } from '../../src/metrics/definitions.js';
import { createFleetMetrics } from '../../src/metrics/fleet-metrics.js';
import { createRequestRecorder } from '../../src/metrics/request-recorder.js';
import { Fleet } from '../../src/primary/fleet.js';
import { createLogger } from '../../src/shared/logger.js';
import { AdmissionService } from '../../src/tenants/admission-service.js';
import { LocalStore } from '../../src/tenants/local-store.js';
import type { TenantKey } from '../../src/tenants/tenant-types.js';
import { createWorkerTenants } from '../../src/tenants/worker-tenants.js';
import { createProxyServer, type ProxyServer } from '../../src/worker/create-proxy-server.js';
import { WorkerFleet } from '../../src/worker/worker-fleet.js';

export interface InProcessProxy {
  readonly url: string;
  readonly config: Config;
  readonly proxy: ProxyServer;
  readonly registry: Registry;
  readonly fleet: WorkerFleet;
  /** The keys' limits, as the primary would hold them. */
  readonly limits: LocalStore;
}

/**
 * A single worker's proxy server in the test process, with the primary's fleet keeper (probes, model
 * discovery) wired straight to it: real sockets, real undici, no cluster. Closed by t.after.
 */
export async function startInProcessProxy(
  t: TestContext,
  flags: Record<string, string | string[]>,
  keys: readonly TenantKey[] = [],
): Promise<InProcessProxy> {
  const defaults: Record<string, unknown> = {};
  for (const [name, flag] of Object.entries(FLAGS)) if ('default' in flag) defaults[name] = flag.default;
  // No health checks, model discovery or engine reads unless the test asks: tests that count a backend's requests stay exact.
  const quiet = { 'health-interval': '0', 'discovery-interval': '0', 'load-interval': '0' };
  const config = { ...configFromFlags({ ...defaults, 'log-level': 'silent', host: '127.0.0.1', port: '0', ...quiet, ...flags }), keys };
  const registry = new Registry();
  const metrics = createWorkerMetrics(registry);
  const recorder = createRequestRecorder(metrics, config.maxInFlightPerWorker);
  const log = createLogger(config, { role: 'test' });
  let worker: WorkerFleet | null = null;
  const keeper = new Fleet(config, log, createFleetMetrics(registry), {
    changed: (state) => worker?.apply(state),
    checked: (checks) => worker?.applyChecks(checks),
    forgotten: () => undefined,
  });
  await keeper.start();
  worker = new WorkerFleet(config, metrics, recorder, 1, keeper.state(), {
    reportLoad: () => undefined,
    out: (verdict) => keeper.onOut(verdict),
  });
  const fleet = worker;
  // The primary's admission service in this process: the messages go straight across, a turn later.
  let service: AdmissionService | null = null;
  const tenants = createWorkerTenants(config, registry, (message) => {
    service?.onGive(1, message.g);
    service?.onLease(1, message.q);
    return true;
  });
  const limits = new LocalStore(config.keys);
  service = new AdmissionService(limits, (_worker, message) => {
    setImmediate(() => tenants.client.onMessage(message));
    return true;
  });
  const proxy = createProxyServer({
    tenants: tenants.gate,
    config,
    fleet,
    malformed: metrics.malformedRequests,
    log,
    own: {
      metrics: async () => ({ status: 200, contentType: registry.contentType, body: await registry.metrics() }),
      // The history lives in a cluster's primary; one in-process worker has none.
      history: async () => ({ status: 404, contentType: 'text/plain', body: 'no dashboard history without a primary\n' }),
      health: () => {
        const backends = fleet.health();
        return {
          status: backends.anyUp ? 200 : 503,
          body: { status: backends.anyUp ? 'ok' : 'no_backend_up', workersAlive: 1, backends: backends.backends },
        };
      },
    },
  });
  await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    keeper.close();
    proxy.server.closeAllConnections();
    await new Promise<void>((resolve) => proxy.server.close(() => resolve()));
    await fleet.close();
  });
  const { port } = proxy.server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, config, proxy, registry, fleet, limits };
}
