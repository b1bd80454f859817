/**
 * What the tests of the deploy files (Grafana, Kubernetes, Dockerfile) share: the files themselves, how an
 * INFERENCE_PROXY_* variable names a flag, the labels the proxy declares, and one live 2-worker proxy per
 * test file that has served known traffic, started on first use and stopped after the file.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after } from 'node:test';
import { Registry } from 'prom-client';
import { ENV_PREFIX } from '../../src/config/defaults.js';
import { createAdmissionMetrics } from '../../src/metrics/admission-metrics.js';
import { createPrimaryMetrics, createWorkerMetrics } from '../../src/metrics/definitions.js';
import { createFleetMetrics } from '../../src/metrics/fleet-metrics.js';
import { createTenantPrimaryMetrics, createTenantWorkerMetrics } from '../../src/metrics/tenant-metrics.js';
import { createMockBackend, type MockBackend } from '../../src/mock-backend/create-mock-backend.js';
import { ROOT } from '../../support/processes.js';
import { chatBody, send } from './http.js';
import { type Exposition, readExposition } from './promql-names.js';
import { metricsPortUrl, type RunningProxy, startProxy } from './start-proxy.js';

export const readRepoFile = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

/** `INFERENCE_PROXY_DRAIN_TIMEOUT` -> `drain-timeout`. */
export const flagOfEnv = (name: string): string =>
  name
    .slice(ENV_PREFIX.length + 1)
    .toLowerCase()
    .replace(/_/g, '-');

/** Label names of every metric the proxy defines (definitions.ts, fleet-metrics.ts, tenant-metrics.ts, admission-metrics.ts), by family name. */
export function declaredLabels(): Map<string, readonly string[]> {
  const registry = new Registry();
  createWorkerMetrics(registry);
  createPrimaryMetrics(registry);
  createFleetMetrics(registry);
  createTenantWorkerMetrics(registry, () => undefined);
  createTenantPrimaryMetrics(registry, () => []);
  createAdmissionMetrics(registry, { depth: () => 0, saturation: () => [] });
  const labels = new Map<string, readonly string[]>();
  for (const metric of registry.getMetricsAsArray()) {
    // prom-client keeps the declared names on the metric; its typings do not expose them.
    const names = (metric as unknown as { name: string; labelNames?: unknown }).labelNames;
    assert.ok(Array.isArray(names), 'prom-client metrics expose labelNames');
    labels.set((metric as unknown as { name: string }).name, names as string[]);
  }
  return labels;
}

export interface ServedProxy {
  readonly mock: MockBackend;
  readonly proxy: RunningProxy;
  /** The primary's --metrics-port base URL. */
  readonly metricsUrl: string;
  /** /metrics after the traffic below. */
  readonly text: string;
  readonly exposition: Exposition;
}

let served: Promise<ServedProxy> | undefined;

/** One 2-worker proxy for the whole test file, started on first use: a stream, a whole chat and a 404. */
export function servedProxy(): Promise<ServedProxy> {
  served ??= startServed();
  return served;
}

after(async () => {
  const running = await served?.catch(() => undefined);
  await running?.proxy.stop();
  await running?.mock.close();
});

async function startServed(): Promise<ServedProxy> {
  const mock = await createMockBackend({ port: 0 });
  let proxy: RunningProxy | undefined;
  try {
    proxy = await startProxy(['--workers', '2', '--backend-url', mock.url, '--metrics-port', '0', '--metrics-host', '127.0.0.1']);
    const metricsUrl = await metricsPortUrl(proxy);
    const json = { 'content-type': 'application/json' };
    const chat = `${proxy.url}/inference/v1/chat/completions`;
    const streamed = await send(chat, { body: chatBody({ stream: true, max_tokens: 6 }), headers: json });
    assert.equal(streamed.status, 200, streamed.text);
    assert.match(streamed.text, /data: \[DONE\]/);
    const whole = await send(chat, { body: chatBody({ max_tokens: 3 }), headers: json });
    assert.equal(whole.status, 200, whole.text);
    assert.ok((JSON.parse(whole.text) as { usage?: unknown }).usage, 'a non-streamed completion carries usage');
    const missing = await send(`${proxy.url}/inference/v1/no-such-route`);
    assert.equal(missing.status, 404);
    const scrape = await send(`${proxy.url}/metrics`);
    assert.equal(scrape.status, 200);
    return { mock, proxy, metricsUrl, text: scrape.text, exposition: readExposition(scrape.text) };
  } catch (err) {
    // after() only stops a fixture that came up; a half-started one is cleaned here.
    await proxy?.stop();
    await mock.close();
    throw err;
  }
}
