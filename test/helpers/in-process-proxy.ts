import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { Registry } from 'prom-client';
import { configFromFlags } from '../../src/config/build-config.js';
import { FLAGS } from '../../src/config/flags.js';
import type { Config } from '../../src/config/types.js';
import { createWorkerMetrics } from '../../src/metrics/definitions.js';
import { createRequestRecorder } from '../../src/metrics/request-recorder.js';
import { createLogger } from '../../src/shared/logger.js';
import { createProxyServer, type ProxyServer } from '../../src/worker/create-proxy-server.js';
import { createUpstreamSet } from '../../src/worker/upstream-set.js';

export interface InProcessProxy {
  readonly url: string;
  readonly config: Config;
  readonly proxy: ProxyServer;
  readonly registry: Registry;
}

/** A single worker's proxy server in the test process: real sockets, real undici, no cluster. Closed by t.after. */
export async function startInProcessProxy(t: TestContext, flags: Record<string, string>): Promise<InProcessProxy> {
  const defaults: Record<string, unknown> = {};
  for (const [name, flag] of Object.entries(FLAGS)) if ('default' in flag) defaults[name] = flag.default;
  const config = configFromFlags({ ...defaults, 'log-level': 'silent', host: '127.0.0.1', port: '0', ...flags });
  const registry = new Registry();
  const metrics = createWorkerMetrics(registry);
  const recorder = createRequestRecorder(metrics, config.backends, config.maxInFlightPerWorker);
  const upstreams = createUpstreamSet(config);
  const proxy = createProxyServer({
    config,
    upstreams,
    recorder,
    malformed: metrics.malformedRequests,
    log: createLogger(config, { role: 'test' }),
    local: {
      metrics: async () => ({ status: 200, contentType: registry.contentType, body: await registry.metrics() }),
      // The history lives in a cluster's primary; one in-process worker has none.
      history: async () => ({ status: 404, contentType: 'text/plain', body: 'no dashboard history without a primary\n' }),
      health: () => ({ workersAlive: 1 }),
    },
  });
  await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    proxy.server.closeAllConnections();
    await new Promise<void>((resolve) => proxy.server.close(() => resolve()));
    await upstreams.close();
  });
  const { port } = proxy.server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, config, proxy, registry };
}
