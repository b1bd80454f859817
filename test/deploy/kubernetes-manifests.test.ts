import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ENV_PREFIX } from '../../src/config/defaults.js';
import { FLAGS } from '../../src/config/flags.js';
import { parseDurationMs } from '../../src/config/parse-units.js';
import { createMockBackend } from '../../src/mock-backend/create-mock-backend.js';
import { eventually } from '../../support/wait.js';
import { declaredLabels, flagOfEnv, servedProxy } from '../helpers/deploy-fixture.js';
import { startDnsServer } from '../helpers/dns-server.js';
import { chatBody, send } from '../helpers/http.js';
import {
  type Container,
  envValue,
  isSubset,
  loadManifests,
  type Manifest,
  only,
  onlyWhere,
  podLabelsOf,
  proxyContainer,
  proxyDeployment,
  resolvePort,
  serviceOf,
} from '../helpers/kubernetes-manifests.js';
import { startCluster } from '../helpers/start-proxy.js';

const TEST_TIMEOUT_MS = 60_000;
const DEFAULT_PORT = Number(FLAGS.port.default);
const DEFAULT_DRAIN_MS = parseDurationMs(FLAGS['drain-timeout'].default);
/** What the probes must ask: readiness follows the backends, liveness only the process. */
const READINESS_PATH = '/healthz';
const LIVENESS_PATH = '/livez';
/** A Kubernetes Service's DNS name: <service>.<namespace>.svc.cluster.local. */
const SERVICE_NAME = /^([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local$/;
/** The pods of the headless Service, in the test: one port on two loopback addresses. */
const POD_ADDRESSES = ['127.0.0.2', '127.0.0.3'];

/** The headless Service the proxy's backend URL names, the Deployment whose pods it selects, and their container. */
function headlessBackends(manifests: Manifest[], backendUrl: URL): { service: Manifest; deployment: Manifest; container: Container } {
  const name = SERVICE_NAME.exec(backendUrl.hostname);
  assert.ok(name, `${backendUrl.hostname} is a Service's cluster DNS name`);
  const service = onlyWhere(manifests, 'Service', `named ${name[1]}`, (s) => s.metadata.name === name[1]);
  const deployment = onlyWhere(manifests, 'Deployment', `selected by ${name[1]}`, (d) => isSubset(service.spec.selector, podLabelsOf(d)));
  const container = deployment.spec.template.spec.containers[0] as Container;
  return { service, deployment, container };
}

test('the Kubernetes manifests match the proxy: probes, ports, env, grace period, PodMonitor, HPA', {
  timeout: TEST_TIMEOUT_MS,
}, async () => {
  const manifests = loadManifests();
  const deployment = proxyDeployment(manifests);
  const { pod, container, podLabels } = proxyContainer(deployment);
  assert.ok(isSubset(deployment.spec.selector.matchLabels, podLabels), 'the Deployment selects its own pods');

  // Every INFERENCE_PROXY_* variable is a real flag (an unknown one makes the proxy exit with 2).
  const envNames = (container.env ?? []).map((env) => env.name).filter((name) => name.startsWith(`${ENV_PREFIX}_`));
  const unknown = envNames.filter((name) => !(flagOfEnv(name) in FLAGS));
  assert.deepEqual(unknown, [], 'INFERENCE_PROXY_* variables that are not flags');
  assert.ok(envNames.includes(`${ENV_PREFIX}_BACKEND_URL`));
  const workers = container.env?.find((env) => env.name === `${ENV_PREFIX}_WORKERS`);
  if (workers?.valueFrom) {
    assert.equal(workers.valueFrom.resourceFieldRef?.resource, 'limits.cpu', 'workers follow the CPU limit');
    assert.ok(container.resources?.limits?.cpu, 'a CPU limit to derive the workers from');
  }

  // Ports: the proxy's port (the --port default unless overridden) and the metrics port.
  const proxyPort = Number(envValue(container, 'port') ?? DEFAULT_PORT);
  assert.equal(proxyPort, DEFAULT_PORT, 'the deployment uses the default --port');
  const httpPort = container.ports?.find((port) => port.containerPort === proxyPort);
  assert.ok(httpPort?.name, `a named container port ${proxyPort}`);
  const metricsPort = Number(envValue(container, 'metrics-port'));
  assert.ok(metricsPort > 0, 'INFERENCE_PROXY_METRICS_PORT is set');
  assert.notEqual(
    envValue(container, 'metrics-host') ?? FLAGS['metrics-host'].default,
    '127.0.0.1',
    'the metrics port is reachable from Prometheus',
  );
  const metricsContainerPort = container.ports?.find((port) => port.containerPort === metricsPort);
  assert.ok(metricsContainerPort?.name, `a named container port ${metricsPort}`);

  // Probes on the proxy port: readiness on /healthz (no backend up: 503), liveness on /livez (the process
  // answers), or Kubernetes would restart every proxy pod whenever the GPU servers are down.
  for (const [kind, probe, path] of [
    ['readiness', container.readinessProbe, READINESS_PATH],
    ['liveness', container.livenessProbe, LIVENESS_PATH],
  ] as const) {
    assert.equal(probe?.httpGet?.path, path, `${kind} probe path`);
    assert.equal(resolvePort(container, probe?.httpGet?.port ?? ''), DEFAULT_PORT, `${kind} probe port`);
  }
  const { proxy, metricsUrl } = await servedProxy();
  for (const path of [READINESS_PATH, LIVENESS_PATH]) {
    const probe = await send(`${proxy.url}${path}`);
    assert.equal(probe.status, 200, `a proxy with its backend up answers ${path}`);
    assert.equal((JSON.parse(probe.text) as { status: string }).status, 'ok');
  }
  const metricsHealth = await send(`${metricsUrl}/metrics`);
  assert.equal(metricsHealth.status, 200, '--metrics-port serves /metrics');

  // Graceful stop: the grace period covers the preStop sleep and the whole drain.
  const preStop = container.lifecycle?.preStop;
  const command = preStop?.exec?.command ?? [];
  const sleepSeconds = preStop?.sleep?.seconds ?? (command[0] === 'sleep' ? Number(command[1]) : Number.NaN);
  assert.ok(sleepSeconds >= 1, 'a preStop sleep so endpoints are removed before the drain');
  const drainMs = parseDurationMs(envValue(container, 'drain-timeout') ?? FLAGS['drain-timeout'].default);
  assert.ok(drainMs >= DEFAULT_DRAIN_MS);
  const grace = pod.terminationGracePeriodSeconds ?? 30;
  assert.ok(grace > DEFAULT_DRAIN_MS / 1000, `terminationGracePeriodSeconds ${grace} > default drain ${DEFAULT_DRAIN_MS / 1000} s`);
  assert.ok(
    grace > sleepSeconds + drainMs / 1000,
    `terminationGracePeriodSeconds ${grace} > preStop ${sleepSeconds} s + drain ${drainMs / 1000} s`,
  );

  // Non-root, read-only root filesystem, bounded resources.
  assert.ok(container.securityContext?.runAsNonRoot ?? pod.securityContext?.runAsNonRoot);
  assert.equal(container.securityContext?.readOnlyRootFilesystem, true);
  assert.equal(container.securityContext?.allowPrivilegeEscalation, false);
  assert.ok(container.resources?.requests?.cpu && container.resources.requests.memory && container.resources.limits?.memory);

  // Service: port 8001 (http) to the proxy port, metrics to the metrics port.
  const service = serviceOf(manifests, deployment);
  assert.notEqual(service.spec.clusterIP, 'None', 'clients reach the proxies through one virtual IP');
  const servicePorts = service.spec.ports as Array<{ name: string; port: number; targetPort?: string | number }>;
  const http = servicePorts.find((port) => port.name === 'http');
  assert.equal(http?.port, DEFAULT_PORT);
  assert.equal(resolvePort(container, http?.targetPort ?? http?.port ?? ''), DEFAULT_PORT);
  const metrics = servicePorts.find((port) => port.name === 'metrics');
  assert.equal(resolvePort(container, metrics?.targetPort ?? metrics?.port ?? ''), metricsPort);

  // PodMonitor: a port the pod has, /metrics; the proxy's own `endpoint` label must survive the scrape.
  const podMonitor = only(manifests, 'PodMonitor');
  assert.equal(podMonitor.apiVersion, 'monitoring.coreos.com/v1');
  assert.ok(isSubset(podMonitor.spec.selector.matchLabels, podLabels), 'the PodMonitor selects the pods');
  const endpoints = podMonitor.spec.podMetricsEndpoints as Array<{
    port: string;
    path?: string;
    honorLabels?: boolean;
    interval?: string;
    scrapeTimeout?: string;
  }>;
  assert.ok(endpoints.length > 0);
  const exported = new Set([...declaredLabels().values()].flat());
  for (const endpoint of endpoints) {
    assert.ok(
      container.ports?.some((port) => port.name === endpoint.port),
      `PodMonitor port ${endpoint.port} is a container port name`,
    );
    assert.equal(endpoint.path ?? '/metrics', '/metrics');
    assert.equal(endpoint.interval, '15s');
    assert.equal(endpoint.scrapeTimeout, '10s');
    if (exported.has('endpoint')) assert.equal(endpoint.honorLabels, true, 'the operator’s `endpoint` target label would rename ours');
  }

  // HPA: scales this Deployment; CPU utilisation needs a CPU request.
  const hpa = only(manifests, 'HorizontalPodAutoscaler');
  assert.equal(hpa.apiVersion, 'autoscaling/v2');
  assert.deepEqual([hpa.spec.scaleTargetRef.kind, hpa.spec.scaleTargetRef.name], ['Deployment', deployment.metadata.name]);
  const cpu = (hpa.spec.metrics as Array<{ type: string; resource?: { name: string } }>).find((m) => m.resource?.name === 'cpu');
  assert.ok(cpu, 'a CPU metric');
  assert.ok(hpa.spec.minReplicas >= 1 && hpa.spec.maxReplicas >= hpa.spec.minReplicas);
});

test('the backends: a headless Service over the vLLM pods, which the proxy resolves with --dns-refresh', () => {
  const manifests = loadManifests();
  const { container } = proxyContainer(proxyDeployment(manifests));
  const backendUrl = new URL(envValue(container, 'backend-url') ?? '');
  const { service, deployment, container: vllm } = headlessBackends(manifests, backendUrl);

  // Headless: the name answers with the pod addresses, and only ready ones, so no pod loading its weights.
  assert.equal(service.spec.clusterIP, 'None');
  assert.notEqual(service.spec.publishNotReadyAddresses, true);
  assert.ok(isSubset(deployment.spec.selector.matchLabels, podLabelsOf(deployment)), 'the vLLM Deployment selects its own pods');
  // The URL's port is a Service port whose target is the vLLM container's port, and the proxy talks to the
  // pods directly, so the URL port must also be the container port (a headless Service maps no port).
  const port = (service.spec.ports as Array<{ name?: string; port: number; targetPort?: string | number }>).find(
    (p) => p.port === Number(backendUrl.port),
  );
  assert.ok(port, `the Service has port ${backendUrl.port}`);
  assert.equal(resolvePort(vllm, port.targetPort ?? port.port), Number(backendUrl.port));
  assert.equal(vllm.readinessProbe?.httpGet?.path, FLAGS['health-path'].default, 'ready when the proxy’s health check would pass');
  assert.ok(vllm.startupProbe, 'a startup probe gives the model time to load');

  // The proxy re-resolves the name, at an interval well under the time a rescheduled pod takes to load.
  const refreshMs = parseDurationMs(envValue(container, 'dns-refresh') ?? '0');
  assert.ok(refreshMs > 0 && refreshMs <= 30_000, `INFERENCE_PROXY_DNS_REFRESH ${refreshMs} ms`);
});

test('the real proxy with the deployment’s environment: a backend per pod of the headless Service, readiness and liveness as the probes expect', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const manifests = loadManifests();
  const { container } = proxyContainer(proxyDeployment(manifests));
  const env: Record<string, string> = {};
  for (const variable of container.env ?? []) if (variable.value !== undefined) env[variable.name] = variable.value;

  // Two pods on one port, and a DNS server that answers the manifest's Service name with their addresses.
  const first = await createMockBackend({ host: POD_ADDRESSES[0], port: 0 });
  t.after(() => first.close());
  const second = await createMockBackend({ host: POD_ADDRESSES[1], port: first.port });
  t.after(() => second.close());
  const pods = [first, second];
  const name = new URL(env[`${ENV_PREFIX}_BACKEND_URL`] ?? '').hostname;
  const dns = await startDnsServer(t);
  dns.set(name, POD_ADDRESSES);

  // Flags win over variables: loopback, free ports, the pods' port, the test's DNS server, quick health
  // checks; every other value comes from the manifest, --dns-refresh included.
  const proxy = await startCluster(
    t,
    [
      ...['--workers', '1', '--metrics-port', '0', '--metrics-host', '127.0.0.1', '--health-interval', '200'],
      ...['--backend-url', `http://${name}:${first.port}`, '--dns-server', dns.address],
    ],
    env,
  );
  const starting = await proxy.waitForLine((line) => line.msg === 'starting');
  const config = starting.config as { drainTimeoutMs: number; dnsRefreshMs: number };
  assert.equal(config.drainTimeoutMs, parseDurationMs(env[`${ENV_PREFIX}_DRAIN_TIMEOUT`] ?? FLAGS['drain-timeout'].default));
  assert.equal(config.dnsRefreshMs, parseDurationMs(env[`${ENV_PREFIX}_DNS_REFRESH`] ?? '0'));

  const readiness = container.readinessProbe?.httpGet?.path ?? '';
  const liveness = container.livenessProbe?.httpGet?.path ?? '';
  const ready = await send(`${proxy.url}${readiness}`);
  assert.equal(ready.status, 200, ready.text);
  const backends = (JSON.parse(ready.text) as { backends: Array<{ url: string; state: string }> }).backends;
  assert.deepEqual(
    backends.map((b) => [b.url, b.state]),
    POD_ADDRESSES.map((address) => [`http://${address}:${first.port}`, 'up']),
    'one backend per pod address',
  );
  for (let i = 0; i < 2; i++) {
    const res = await send(`${proxy.url}/v1/chat/completions`, { body: chatBody(), headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 200, res.text);
  }
  assert.equal(
    pods.reduce((sum, pod) => sum + pod.stats.completionRequests, 0),
    2,
  );

  // Every pod fails its health checks: the proxy pod turns unready, but stays live (no restart).
  for (const pod of pods) pod.control({ health: 503 });
  await eventually(
    `${readiness} 503 with no backend up`,
    async () => (await send(`${proxy.url}${readiness}`)).status,
    (status) => status === 503,
    { timeoutMs: 5_000, everyMs: 50 },
  );
  assert.equal((await send(`${proxy.url}${liveness}`)).status, 200, `${liveness} while no backend is up`);
});
