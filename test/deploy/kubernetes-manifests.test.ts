import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ENV_PREFIX } from '../../src/config/defaults.js';
import { FLAGS } from '../../src/config/flags.js';
import { parseDurationMs } from '../../src/config/parse-units.js';
import { declaredLabels, flagOfEnv, servedProxy } from '../helpers/deploy-fixture.js';
import { send } from '../helpers/http.js';
import { envValue, isSubset, loadManifests, only, proxyContainer, resolvePort } from '../helpers/kubernetes-manifests.js';
import { startMockBackend } from '../helpers/mock-backend.js';
import { startCluster } from '../helpers/start-proxy.js';

const TEST_TIMEOUT_MS = 60_000;
const DEFAULT_PORT = Number(FLAGS.port.default);
const DEFAULT_DRAIN_MS = parseDurationMs(FLAGS['drain-timeout'].default);

test('the Kubernetes manifests match the proxy: probes, ports, env, grace period, PodMonitor, HPA', {
  timeout: TEST_TIMEOUT_MS,
}, async () => {
  const manifests = loadManifests();
  const deployment = only(manifests, 'Deployment');
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

  // Probes: /healthz on the proxy port.
  for (const [kind, probe] of [
    ['readiness', container.readinessProbe],
    ['liveness', container.livenessProbe],
  ] as const) {
    assert.equal(probe?.httpGet?.path, '/healthz', `${kind} probe path`);
    assert.equal(resolvePort(container, probe?.httpGet?.port ?? ''), DEFAULT_PORT, `${kind} probe port`);
  }
  const { proxy, metricsUrl } = await servedProxy();
  const health = await send(`${proxy.url}/healthz`);
  assert.equal(health.status, 200, 'the proxy serves /healthz');
  assert.equal((JSON.parse(health.text) as { status: string }).status, 'ok');
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
  const service = only(manifests, 'Service');
  assert.ok(isSubset(service.spec.selector, podLabels), 'the Service selects the pods');
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

test('the real proxy starts with the deployment’s environment', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const { container } = proxyContainer(only(loadManifests(), 'Deployment'));
  const env: Record<string, string> = {};
  for (const variable of container.env ?? []) if (variable.value !== undefined) env[variable.name] = variable.value;
  const mock = await startMockBackend(t);
  // Flags win over variables: loopback, free ports, the mock backend; every other value comes from the manifest.
  const proxy = await startCluster(
    t,
    ['--workers', '1', '--backend-url', mock.url, '--metrics-port', '0', '--metrics-host', '127.0.0.1'],
    env,
  );
  const starting = await proxy.waitForLine((line) => line.msg === 'starting');
  const config = starting.config as { drainTimeoutMs: number };
  if (env[`${ENV_PREFIX}_DRAIN_TIMEOUT`] !== undefined) {
    assert.equal(config.drainTimeoutMs, parseDurationMs(env[`${ENV_PREFIX}_DRAIN_TIMEOUT`]));
  }
  assert.equal((await send(`${proxy.url}/healthz`)).status, 200);
});
