import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { Registry } from 'prom-client';
import { parseAllDocuments } from 'yaml';
import { ENV_PREFIX } from '../../src/config/defaults.js';
import { FLAGS } from '../../src/config/flags.js';
import { parseDurationMs } from '../../src/config/parse-units.js';
import { createPrimaryMetrics, createWorkerMetrics } from '../../src/metrics/definitions.js';
import { createMockBackend, type MockBackend } from '../../src/mock-backend/create-mock-backend.js';
import { chatBody, send } from '../helpers/http.js';
import { parseLabels, sample } from '../helpers/metrics-text.js';
import { type Exposition, familyOf, PROMQL_FUNCTIONS, parseLabelValues, promqlRefs, readExposition } from '../helpers/promql-names.js';
import { type RunningProxy, startProxy } from '../helpers/start-proxy.js';

// dist/test/e2e/deploy-files.test.js -> the repository root is three levels up.
const ROOT = new URL('../../../', import.meta.url);
const readRepoFile = (path: string): string => readFileSync(new URL(path, ROOT), 'utf8');
const DASHBOARD = 'deploy/grafana/inference-proxy.json';
const MANIFESTS = ['deployment.yaml', 'service.yaml', 'podmonitor.yaml', 'hpa.yaml'].map((name) => `deploy/kubernetes/${name}`);
const TEST_TIMEOUT_MS = 60_000;
const DEFAULT_PORT = Number(FLAGS.port.default);
const DEFAULT_DRAIN_MS = parseDurationMs(FLAGS['drain-timeout'].default);
/** How every panel names its datasource: the dashboard's `datasource` variable. */
const DATASOURCE_UID = '$' + '{datasource}';
/** Labels Prometheus (Operator) attaches to every scraped series; a dashboard may group by them. */
const TARGET_LABELS = ['job', 'instance', 'namespace', 'pod', 'container', 'service'];

// ---------------------------------------------------------------- a live proxy that served known traffic

interface Live {
  readonly mock: MockBackend;
  readonly proxy: RunningProxy;
  readonly metricsPort: number;
  /** /metrics after the traffic below. */
  readonly text: string;
  readonly exposition: Exposition;
}

let live: Promise<Live> | undefined;

/** One 2-worker proxy for the whole file, started on first use. */
function liveProxy(): Promise<Live> {
  live ??= startLive();
  return live;
}

after(async () => {
  const running = await live?.catch(() => undefined);
  await running?.proxy.stop();
  await running?.mock.close();
});

async function startLive(): Promise<Live> {
  const mock = await createMockBackend({ port: 0 });
  let proxy: RunningProxy | undefined;
  try {
    proxy = await startProxy(['--workers', '2', '--backend-url', mock.url, '--metrics-port', '0', '--metrics-host', '127.0.0.1']);
    const metricsLine = await proxy.waitForLine((line) => line.msg === 'metrics port listening');
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
    return { mock, proxy, metricsPort: metricsLine.port as number, text: scrape.text, exposition: readExposition(scrape.text) };
  } catch (err) {
    // after() only stops a fixture that came up; a half-started one is cleaned here.
    await proxy?.stop();
    await mock.close();
    throw err;
  }
}

// ---------------------------------------------------------------- the dashboard

interface Target {
  expr?: string;
  format?: string;
  legendFormat?: string;
  refId?: string;
}

interface Panel {
  id?: number;
  type: string;
  title?: string;
  datasource?: { type?: string; uid?: string };
  gridPos?: { h: number; w: number; x: number; y: number };
  targets?: Target[];
  panels?: Panel[];
}

interface Variable {
  name: string;
  type: string;
  query?: string | { query?: string };
  definition?: string;
  multi?: boolean;
  includeAll?: boolean;
}

interface Dashboard {
  schemaVersion: number;
  uid?: string;
  title?: string;
  __inputs?: Array<{ name: string; type: string; pluginId: string }>;
  __requires?: Array<{ type: string; id: string }>;
  templating: { list: Variable[] };
  panels: Panel[];
}

function loadDashboard(): { text: string; dashboard: Dashboard } {
  const text = readRepoFile(DASHBOARD);
  return { text, dashboard: JSON.parse(text) as Dashboard };
}

/** Every panel, including those inside collapsed rows. */
function allPanels(dashboard: Dashboard): Panel[] {
  return dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
}

const queryOf = (variable: Variable): string =>
  typeof variable.query === 'string' ? variable.query : (variable.query?.query ?? variable.definition ?? '');

/** Every PromQL expression in the dashboard, with where it comes from. */
function dashboardQueries(dashboard: Dashboard): Array<{ where: string; expr: string }> {
  const queries: Array<{ where: string; expr: string }> = [];
  for (const panel of allPanels(dashboard)) {
    for (const target of panel.targets ?? []) {
      if (target.expr) queries.push({ where: `panel "${panel.title}" ${target.refId ?? ''}`.trim(), expr: target.expr });
    }
  }
  for (const variable of dashboard.templating.list) {
    if (variable.type !== 'query') continue;
    const labelValues = parseLabelValues(queryOf(variable));
    queries.push({ where: `variable $${variable.name}`, expr: labelValues ? labelValues.expr : queryOf(variable) });
  }
  return queries;
}

test('the Grafana dashboard is importable: JSON, a datasource input, the templating variables, a target on every panel', () => {
  const { text, dashboard } = loadDashboard();
  assert.ok(dashboard.schemaVersion >= 36, `schemaVersion ${dashboard.schemaVersion}`);
  assert.ok(dashboard.uid && dashboard.title);

  const inputs = dashboard.__inputs ?? [];
  assert.ok(
    inputs.some((input) => input.type === 'datasource' && input.pluginId === 'prometheus'),
    '__inputs has a Prometheus datasource',
  );
  assert.ok(dashboard.__requires?.some((r) => r.type === 'datasource' && r.id === 'prometheus'));
  const inputNames = new Set(inputs.map((input) => input.name));
  for (const [, name] of text.matchAll(/\$\{(DS_[A-Z0-9_]+)\}/g))
    assert.ok(inputNames.has(name as string), `\${${name}} has an __inputs entry`);

  const variables = new Map(dashboard.templating.list.map((variable) => [variable.name, variable]));
  const datasource = variables.get('datasource');
  assert.equal(datasource?.type, 'datasource');
  assert.equal(datasource?.query, 'prometheus');
  const url = variables.get('url');
  assert.equal(url?.type, 'query');
  assert.equal(queryOf(url as Variable).replace(/\s/g, ''), 'label_values(input_requests_total,url)');
  assert.equal(url?.multi, true);
  assert.equal(url?.includeAll, true);
  const endpoint = variables.get('endpoint');
  assert.equal(endpoint?.type, 'query');
  assert.equal(queryOf(endpoint as Variable).replace(/\s/g, ''), 'label_values(input_requests_total{url=~"$url"},endpoint)');

  const panels = allPanels(dashboard);
  const ids = panels.map((panel) => panel.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  const problems: string[] = [];
  for (const panel of panels) {
    const grid = panel.gridPos;
    if (!grid || grid.x < 0 || grid.w < 1 || grid.x + grid.w > 24) problems.push(`"${panel.title}": gridPos outside the 24 columns`);
    if (panel.type === 'row') continue;
    const targets = panel.targets ?? [];
    if (targets.length === 0 || targets.some((target) => !target.expr?.trim()))
      problems.push(`"${panel.title}": no target or an empty expr`);
    if (panel.datasource?.uid !== DATASOURCE_UID) problems.push(`"${panel.title}": datasource is not ${DATASOURCE_UID}`);
  }
  for (const { where, expr } of dashboardQueries(dashboard)) {
    for (const range of promqlRefs(expr).ranges) {
      if (range !== '$__rate_interval' && !(range === '1m' && expr.includes('process_cpu_seconds_total'))) {
        problems.push(`${where}: range [${range}] instead of [$__rate_interval]`);
      }
    }
    // Many instances: every aggregation must sum (or max/min) over them, never show raw per-series lines.
    if (!/^\s*(sum|max|min|avg|histogram_quantile)\b/.test(expr) && !where.startsWith('variable')) {
      problems.push(`${where}: not aggregated over instances: ${expr}`);
    }
  }
  const heatmap = panels.find((panel) => panel.type === 'heatmap');
  const heatTarget = heatmap?.targets?.[0];
  assert.equal(heatTarget?.format, 'heatmap');
  assert.match(heatTarget?.expr ?? '', /decoding_throughput_tokens_per_second_bucket/);
  assert.match(heatTarget?.expr ?? '', /by \(le\)/);
  assert.deepEqual(problems, []);
});

test('every metric in the dashboard’s PromQL is in a live /metrics of a 2-worker proxy that served traffic', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const { dashboard } = loadDashboard();
  const { mock, exposition, text } = await liveProxy();
  // The traffic created the series the dashboard plots (names also appear in # TYPE lines without samples).
  assert.equal(sample(text, 'output_requests_total', { url: mock.url, endpoint: 'other', status: '404' }), 1);
  assert.ok(exposition.sampled.has('decoding_throughput_tokens_per_second_bucket'), 'the stream produced a throughput observation');

  const unknownMetrics: string[] = [];
  const unknownFunctions: string[] = [];
  const used = new Set<string>();
  for (const { where, expr } of dashboardQueries(dashboard)) {
    const refs = promqlRefs(expr);
    assert.ok(refs.metrics.length > 0, `${where}: no metric found in ${expr}`);
    for (const fn of refs.functions) if (!PROMQL_FUNCTIONS.has(fn)) unknownFunctions.push(`${fn} (${where})`);
    for (const name of refs.metrics) {
      const family = familyOf(name, exposition);
      if (family === undefined) unknownMetrics.push(`${name} (${where})`);
      else used.add(family);
    }
  }
  assert.deepEqual(unknownMetrics, [], `metric names not in the live /metrics:\n${unknownMetrics.join('\n')}`);
  assert.deepEqual(unknownFunctions, [], `not PromQL functions:\n${unknownFunctions.join('\n')}`);

  // The label_values() variables read labels the live series carry.
  for (const variable of dashboard.templating.list) {
    const labelValues = parseLabelValues(queryOf(variable));
    if (!labelValues) continue;
    const metric = promqlRefs(labelValues.expr).metrics[0] as string;
    const carried = text
      .split('\n')
      .filter((line) => line.startsWith(`${metric}{`))
      .map((line) => parseLabels(line.slice(metric.length, line.lastIndexOf('}') + 1)));
    assert.ok(
      carried.some((labels) => labels[labelValues.label] !== undefined),
      `$${variable.name}: no ${metric} series with a ${labelValues.label} label`,
    );
  }

  const own = declaredLabels();
  const notShown = [...own.keys()].filter((name) => !used.has(name));
  if (notShown.length > 0) t.diagnostic(`proxy metrics not on the dashboard: ${notShown.join(', ')}`);
});

/** Label names of every metric the proxy defines (definitions.ts), by family name. */
function declaredLabels(): Map<string, readonly string[]> {
  const registry = new Registry();
  createWorkerMetrics(registry);
  createPrimaryMetrics(registry);
  const labels = new Map<string, readonly string[]>();
  for (const metric of registry.getMetricsAsArray()) {
    // prom-client keeps the declared names on the metric; its typings do not expose them.
    const names = (metric as unknown as { name: string; labelNames?: unknown }).labelNames;
    assert.ok(Array.isArray(names), 'prom-client metrics expose labelNames');
    labels.set((metric as unknown as { name: string }).name, names as string[]);
  }
  return labels;
}

test('the labels the dashboard filters and groups by exist on the metrics it queries', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { dashboard } = loadDashboard();
  const { exposition, text } = await liveProxy();
  const declared = declaredLabels();
  /** Declared labels, or for prom-client's default metrics the labels seen on the live samples. */
  const labelsOf = (family: string): Set<string> => {
    const own = declared.get(family);
    if (own) return new Set(own);
    const seen = new Set<string>();
    for (const line of text.split('\n')) {
      if (!line.startsWith(family) || !/^[a-zA-Z_:][a-zA-Z0-9_:]*\{/.test(line)) continue;
      const name = line.slice(0, line.indexOf('{'));
      if (familyOf(name, exposition) !== family) continue;
      for (const label of Object.keys(parseLabels(line.slice(name.length)))) if (label !== 'le') seen.add(label);
    }
    return seen;
  };

  const problems: string[] = [];
  for (const { where, expr } of dashboardQueries(dashboard)) {
    const refs = promqlRefs(expr);
    const available = new Set([...TARGET_LABELS, ...refs.createdLabels]);
    for (const selector of refs.selectors) {
      const family = familyOf(selector.metric, exposition);
      if (family === undefined) continue; // reported by the metric-name test
      const own = labelsOf(family);
      if (selector.metric.endsWith('_bucket')) own.add('le');
      for (const label of own) available.add(label);
      for (const label of selector.labels) if (!own.has(label)) problems.push(`${where}: ${selector.metric} has no label ${label}`);
    }
    for (const name of refs.metrics) {
      const family = familyOf(name, exposition);
      if (family === undefined) continue;
      for (const label of labelsOf(family)) available.add(label);
      if (name.endsWith('_bucket')) available.add('le');
    }
    for (const label of refs.groupingLabels) if (!available.has(label)) problems.push(`${where}: groups by ${label}, which no series has`);
  }
  assert.deepEqual(problems, []);
});

// ---------------------------------------------------------------- Kubernetes

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { resourceFieldRef?: { resource: string; containerName?: string; divisor?: string | number } };
}
interface ContainerPort {
  name?: string;
  containerPort: number;
}
interface Probe {
  httpGet?: { path: string; port: string | number };
}
interface Container {
  name: string;
  image: string;
  env?: EnvVar[];
  ports?: ContainerPort[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number } } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: { readOnlyRootFilesystem?: boolean; runAsNonRoot?: boolean; allowPrivilegeEscalation?: boolean };
}
interface PodSpec {
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  containers: Container[];
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: manifests of several kinds; each test narrows what it reads.
  spec: any;
}

function loadManifests(): Manifest[] {
  const manifests: Manifest[] = [];
  for (const path of MANIFESTS) {
    for (const doc of parseAllDocuments(readRepoFile(path))) {
      assert.deepEqual(
        doc.errors.map((error) => error.message),
        [],
        `${path} parses`,
      );
      const value = doc.toJS() as Manifest | null;
      if (value === null) continue;
      assert.ok(value.apiVersion && value.kind && value.metadata?.name, `${path}: apiVersion, kind and metadata.name`);
      manifests.push(value);
    }
  }
  return manifests;
}

function only(manifests: Manifest[], kind: string): Manifest {
  const found = manifests.filter((manifest) => manifest.kind === kind);
  assert.equal(found.length, 1, `exactly one ${kind}`);
  return found[0] as Manifest;
}

function proxyContainer(deployment: Manifest): { pod: PodSpec; container: Container; podLabels: Record<string, string> } {
  const pod = deployment.spec.template.spec as PodSpec;
  const container = pod.containers.find((c) => c.env?.some((env) => env.name.startsWith(`${ENV_PREFIX}_`)));
  assert.ok(container, 'a container configured with INFERENCE_PROXY_* variables');
  return { pod, container, podLabels: deployment.spec.template.metadata.labels as Record<string, string> };
}

/** A probe or Service port (a number or a port name) as a container port number. */
function resolvePort(container: Container, port: string | number): number | undefined {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

const flagOfEnv = (name: string): string =>
  name
    .slice(ENV_PREFIX.length + 1)
    .toLowerCase()
    .replace(/_/g, '-');

const envValue = (container: Container, flag: string): string | undefined =>
  container.env?.find((env) => env.name === `${ENV_PREFIX}_${flag.toUpperCase().replace(/-/g, '_')}`)?.value;

const isSubset = (wanted: Record<string, string>, labels: Record<string, string>): boolean =>
  Object.entries(wanted).every(([key, value]) => labels[key] === value);

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
  const { proxy, metricsPort: liveMetricsPort } = await liveProxy();
  const health = await send(`${proxy.url}/healthz`);
  assert.equal(health.status, 200, 'the proxy serves /healthz');
  assert.equal((JSON.parse(health.text) as { status: string }).status, 'ok');
  const metricsHealth = await send(`http://127.0.0.1:${liveMetricsPort}/metrics`);
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
  const mock = await createMockBackend({ port: 0 });
  t.after(() => mock.close());
  // Flags win over variables: loopback, free ports, the mock backend; every other value comes from the manifest.
  const proxy = await startProxy(['--workers', '1', '--backend-url', mock.url, '--metrics-port', '0', '--metrics-host', '127.0.0.1'], env);
  t.after(() => proxy.stop());
  const starting = await proxy.waitForLine((line) => line.msg === 'starting');
  const config = starting.config as { drainTimeoutMs: number };
  if (env[`${ENV_PREFIX}_DRAIN_TIMEOUT`] !== undefined) {
    assert.equal(config.drainTimeoutMs, parseDurationMs(env[`${ENV_PREFIX}_DRAIN_TIMEOUT`]));
  }
  assert.equal((await send(`${proxy.url}/healthz`)).status, 200);
});

// ---------------------------------------------------------------- Dockerfile

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

/** Instructions of a Dockerfile, continuation lines joined, comments dropped; and the comments. */
function parseDockerfile(text: string): { stages: Instruction[][]; comments: string } {
  const comments: string[] = [];
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#')) {
      comments.push(line);
      continue;
    }
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    current += line;
    if (current.trim() !== '') logical.push(current.trim());
    current = '';
  }
  if (current.trim() !== '') logical.push(current.trim());
  const stages: Instruction[][] = [];
  for (const line of logical) {
    const match = /^(\w+)\s+(.*)$/s.exec(line);
    assert.ok(match, `a Dockerfile instruction: ${line}`);
    const instruction = { keyword: (match[1] as string).toUpperCase(), args: (match[2] as string).trim() };
    if (instruction.keyword === 'FROM') stages.push([]);
    if (instruction.keyword === 'ARG' && stages.length === 0) continue;
    assert.ok(stages.length > 0, `${instruction.keyword} before the first FROM`);
    (stages[stages.length - 1] as Instruction[]).push(instruction);
  }
  return { stages, comments: comments.join('\n') };
}

const argsOf = (stage: Instruction[], keyword: string): string[] => stage.filter((i) => i.keyword === keyword).map((i) => i.args);

/** `CMD ["a", "b"]` -> ['a', 'b']; the shell form -> ['/bin/sh', '-c', text]. */
function commandOf(args: string): string[] {
  if (args.startsWith('[')) return JSON.parse(args) as string[];
  return ['/bin/sh', '-c', args];
}

/** `ENV A=1 B="x"` (and the legacy `ENV A 1`) as a record. */
function envOf(args: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!args.includes('=')) {
    const [name, ...value] = args.split(/\s+/);
    out[name as string] = value.join(' ');
    return out;
  }
  for (const match of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    const value = match[2] as string;
    out[match[1] as string] = value.startsWith('"') ? (JSON.parse(value) as string) : value;
  }
  return out;
}

async function exitCode(argv: string[], env: Record<string, string>): Promise<number | null> {
  const [file, ...args] = argv;
  const child = spawn(file === 'node' ? process.execPath : (file as string), args, { env: { ...process.env, ...env }, stdio: 'ignore' });
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const [code] = await once(child, 'exit');
  clearTimeout(timer);
  return code as number | null;
}

test('the Dockerfile: multi-stage, non-root, production deps, tini, ports, CMD, and a HEALTHCHECK that works', {
  timeout: TEST_TIMEOUT_MS,
}, async () => {
  const { stages, comments } = parseDockerfile(readRepoFile('Dockerfile'));
  assert.ok(stages.length >= 2, 'multi-stage (at least two FROM)');
  const runtime = stages[stages.length - 1] as Instruction[];
  const builders = stages.slice(0, -1);
  const builderNames = builders.map((stage) => /\bAS\s+(\S+)/i.exec(stage[0]?.args ?? '')?.[1]).filter((name) => name !== undefined);
  assert.ok(
    builders.some(
      (stage) =>
        argsOf(stage, 'RUN').some((run) => /\bnpm ci\b/.test(run)) && argsOf(stage, 'RUN').some((run) => /npm run build|\btsc\b/.test(run)),
    ),
    'a builder stage installs with npm ci and builds',
  );
  assert.ok(
    argsOf(runtime, 'COPY').some((copy) => builderNames.some((name) => copy.includes(`--from=${name}`)) && copy.includes('dist')),
    'the runtime copies dist/ from the builder',
  );
  assert.ok(
    argsOf(runtime, 'RUN').some((run) => /\bnpm ci\b/.test(run) && run.includes('--omit=dev')),
    'the runtime installs production dependencies only',
  );
  const user = argsOf(runtime, 'USER').at(-1);
  assert.ok(user && !/^(root|0)(:|$)/.test(user), `a non-root USER, got ${user}`);

  const entrypoint = argsOf(runtime, 'ENTRYPOINT').at(-1);
  const usesTini = entrypoint !== undefined && commandOf(entrypoint).some((part) => part.includes('tini'));
  assert.ok(usesTini || comments.includes('--init'), 'tini as PID 1, or docker run --init documented');
  if (usesTini)
    assert.ok(
      argsOf(runtime, 'RUN').some((run) => /apt-get install .*\btini\b/.test(run)),
      'tini is installed',
    );

  const exposed = argsOf(runtime, 'EXPOSE')
    .flatMap((ports) => ports.split(/\s+/))
    .map((port) => Number(port.split('/')[0]));
  assert.ok(exposed.includes(DEFAULT_PORT), `EXPOSE ${DEFAULT_PORT}`);
  const env = Object.assign({}, ...argsOf(runtime, 'ENV').map(envOf)) as Record<string, string>;
  for (const name of Object.keys(env).filter((n) => n.startsWith(`${ENV_PREFIX}_`)))
    assert.ok(flagOfEnv(name) in FLAGS, `${name} is a flag`);
  assert.equal(Number(env[`${ENV_PREFIX}_PORT`] ?? DEFAULT_PORT), DEFAULT_PORT);

  const cmd = commandOf(argsOf(runtime, 'CMD').at(-1) ?? '[]');
  assert.deepEqual(cmd, ['node', 'dist/src/main.js']);
  assert.ok(existsSync(new URL('dist/src/main.js', ROOT)), 'the build produces dist/src/main.js');
  const stopSignal = argsOf(runtime, 'STOPSIGNAL').at(-1);
  if (stopSignal !== undefined) assert.equal(stopSignal, 'SIGTERM');

  // The HEALTHCHECK command itself: 0 against the live proxy, not 0 against a closed port.
  const healthcheck = argsOf(runtime, 'HEALTHCHECK').at(-1) ?? '';
  assert.match(healthcheck, /\/healthz/);
  const check = /\bCMD\s+(.*)$/s.exec(healthcheck)?.[1];
  assert.ok(check, 'HEALTHCHECK CMD ...');
  const argv = commandOf(check);
  const { proxy } = await liveProxy();
  assert.equal(await exitCode(argv, { [`${ENV_PREFIX}_PORT`]: String(proxy.port) }), 0, 'healthy proxy');
  const closed = await createMockBackend({ port: 0 });
  const closedPort = closed.port;
  await closed.close();
  assert.notEqual(await exitCode(argv, { [`${ENV_PREFIX}_PORT`]: String(closedPort) }), 0, 'nothing listening');

  const ignored = readRepoFile('.dockerignore')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  for (const path of ['node_modules', 'dist', '.git']) assert.ok(ignored.includes(path), `.dockerignore lists ${path}`);
});
