import assert from 'node:assert/strict';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { MockBackend } from '../../src/mock-backend/create-mock-backend.js';
import { hasCommand, run } from '../../support/processes.js';
import { eventually } from '../../support/wait.js';
import { asPromql, dashboardQueries, loadDashboard, panelsOfRow } from '../helpers/grafana-dashboard.js';
import { chatBody, send } from '../helpers/http.js';
import { startMockBackend } from '../helpers/mock-backend.js';
import { type RunningPrometheus, type Sample, startPrometheus } from '../helpers/prometheus-server.js';
import { metricsPortUrl, type RunningProxy, startCluster } from '../helpers/start-proxy.js';

// The compiled file runs from dist/test/e2e; the YAML stays in the source tree.
const DEPLOY = fileURLToPath(new URL('../../../deploy/prometheus/', import.meta.url));
const CONFIG = join(DEPLOY, 'prometheus.yml');
const RULES = join(DEPLOY, 'rules.yml');
const ALERTS = join(DEPLOY, 'alerts.yml');
const RULE_TESTS = join(DEPLOY, 'rules.test.yml');

const TEST_TIMEOUT_MS = 60_000;
const CHAT = '/v1/chat/completions';
const JOB = '{job="inference-proxy"}';
// The completion series exist from startup at 0; the traffic here is all chat.
const JOB_CHAT = '{job="inference-proxy",endpoint="/v1/chat/completions"}';
const CHAT_ONLY = '{endpoint="/v1/chat/completions"}';
// The mock backend waits this long before the first token; with the proxy's overhead the TTFT lands in
// the (0.25, 0.5] bucket.
const TTFT_MS = 300;
const TOKEN_DELAY_MS = 20;
const MAX_TOKENS = 8;
const RECORDING_RULES = 12;
const ALERTING_RULES = 16;

const PROMTOOL_TIMEOUT_MS = 30_000;

// A fleet of two: one worker, so round-robin alternates exactly; active health checks every 200 ms (down
// after 2 failures); live traffic never ejects (--max-fails 0), so only the health checks move backend_up;
// a small body limit, so that a 413 is a request the proxy answers itself (url="none").
const FLEET_ARGS = ['--workers', '1', '--routing', 'round-robin', '--slow-start', '0', '--health-interval', '200', '--max-fails', '0'];
const BODY_LIMIT_ARGS = ['--body-limit', '4kb'];
const OVER_LIMIT_BODY = chatBody({ messages: [{ role: 'user', content: 'x'.repeat(8 * 1024) }] });
const JSON_HEADERS = { 'content-type': 'application/json' };
/** Grafana's $__rate_interval for these queries: longer than the whole test, so every sample is in the window. */
const DASHBOARD_RATE_INTERVAL = '1m';
/** Two doubles computed by different expressions over the same samples agree to this much. */
const FLOAT_TOLERANCE = 1e-12;

const INSTALLED = (await hasCommand('prometheus')) && (await hasCommand('promtool'));
// Locally a missing Prometheus skips these tests; CI installs it (.ci/run), so there a missing one fails.
const skip = !INSTALLED && !process.env.CI ? 'prometheus/promtool not installed (Debian package prometheus)' : false;

function requireInstalled(): void {
  assert.ok(INSTALLED, 'prometheus and promtool must be installed (Debian package prometheus; .ci/run installs it)');
}

async function chat(proxy: RunningProxy, stream: boolean): Promise<void> {
  const res = await send(`${proxy.url}${CHAT}`, {
    body: chatBody({ stream, max_tokens: MAX_TOKENS }),
    headers: {
      'content-type': 'application/json',
      'x-mock-ttft-ms': String(TTFT_MS),
      'x-mock-token-delay-ms': String(TOKEN_DELAY_MS),
    },
  });
  assert.equal(res.status, 200, res.text);
}

async function proxyWithMetricsPort(t: TestContext, mock: MockBackend, workers: number): Promise<{ proxy: RunningProxy; target: string }> {
  const proxy = await startCluster(t, [
    '--workers',
    String(workers),
    '--backend-url',
    mock.url,
    '--metrics-port',
    '0',
    '--access-log',
    'off',
  ]);
  return { proxy, target: new URL(await metricsPortUrl(proxy)).host };
}

async function prometheus(t: TestContext, targets: string[]): Promise<RunningPrometheus> {
  const prom = await startPrometheus({ targets, ruleFiles: [RULES, ALERTS], intervalS: 1 });
  t.after(() => prom.stop());
  await prom.waitFor(`up${JOB}`, (r) => r.length === targets.length && r.every((s) => s.value === 1));
  return prom;
}

const single = (samples: Sample[]): Sample => {
  assert.equal(samples.length, 1, JSON.stringify(samples));
  return samples[0] as Sample;
};
const total = (expected: number) => (samples: Sample[]) => samples.length === 1 && samples[0]?.value === expected;
const promtool = (args: string[]) => run('promtool', args, {}, PROMTOOL_TIMEOUT_MS);

async function plainChat(proxy: RunningProxy): Promise<void> {
  const res = await send(`${proxy.url}${CHAT}`, { body: chatBody(), headers: JSON_HEADERS });
  assert.equal(res.status, 200, res.text);
}

/** Sends completions one at a time until `backend` has received `count` more (failover keeps every answer 200). */
async function untilReceived(proxy: RunningProxy, backend: MockBackend, count: number): Promise<void> {
  const wanted = backend.stats.completionRequests + count;
  await eventually(
    `${count} more completions reach ${backend.url}`,
    async () => {
      if (backend.stats.completionRequests < wanted) await plainChat(proxy);
      return backend.stats.completionRequests;
    },
    (received) => received >= wanted,
    { timeoutMs: 10_000, everyMs: 0 },
  );
}

/** Waits until `alertname` is pending (its `for:` is minutes) as one alert, and checks that alert's labels exactly. */
async function expectPending(prom: RunningPrometheus, alertname: string, labels: Record<string, string>): Promise<void> {
  const alert = single(await prom.waitFor(`ALERTS{alertname="${alertname}"}`, (r) => r.length === 1));
  assert.deepEqual(alert.metric, { __name__: 'ALERTS', alertname, alertstate: 'pending', ...labels });
}

const byUrl = (samples: Sample[]): Record<string, number> => Object.fromEntries(samples.map((s) => [s.metric.url, s.value]));

test('promtool accepts the config, the rule files and the rule unit tests', { skip, timeout: TEST_TIMEOUT_MS }, async () => {
  requireInstalled();
  const config = await promtool(['check', 'config', CONFIG]);
  assert.equal(config.code, 0, config.stdout + config.stderr);
  assert.match(config.stdout + config.stderr, /2 rule files found/, 'the rule files resolve relative to the config');
  const rules = await promtool(['check', 'rules', RULES, ALERTS]);
  assert.equal(rules.code, 0, rules.stdout + rules.stderr);
  assert.match(rules.stdout + rules.stderr, new RegExp(`${RECORDING_RULES} rules found`));
  const unit = await promtool(['test', 'rules', RULE_TESTS]);
  assert.equal(unit.code, 0, unit.stdout + unit.stderr);
  assert.match(unit.stdout + unit.stderr, /SUCCESS/);
});

test('a real Prometheus scraping a 2-worker proxy reads exact counts, TTFT in its bucket and the recording rules', {
  skip,
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  requireInstalled();
  const mock = await startMockBackend(t);
  const { proxy, target } = await proxyWithMetricsPort(t, mock, 2);
  const prom = await prometheus(t, [target]);

  // A labelled series appears in /metrics only after its first request, and rate() cannot see an
  // increase before a series' first sample: one request of each kind first, scraped, then the rest.
  await Promise.all([chat(proxy, false), chat(proxy, true)]);
  await prom.waitFor(`sum(input_requests_total${JOB_CHAT})`, total(2));
  await prom.waitFor(`sum(time_to_first_token_seconds_count${JOB})`, total(1));
  await Promise.all([...Array.from({ length: 4 }, () => chat(proxy, false)), ...Array.from({ length: 6 }, () => chat(proxy, true))]);
  await prom.waitFor(`sum(input_requests_total${JOB_CHAT})`, total(12));
  await prom.waitFor(`sum(time_to_first_token_seconds_count${JOB})`, total(7));

  const byEndpoint = single(await prom.query(`sum by (url, endpoint) (input_requests_total${JOB_CHAT})`));
  assert.deepEqual(byEndpoint, { metric: { url: mock.url, endpoint: CHAT }, value: 12 });
  assert.equal(single(await prom.query(`sum(output_requests_total{job="inference-proxy",status="200"})`)).value, 12);
  assert.equal(single(await prom.query(`sum(prompt_tokens_total${JOB})`)).value, mock.stats.promptTokens);
  assert.equal(single(await prom.query(`sum(completion_tokens_total${JOB})`)).value, mock.stats.completionTokens);
  assert.equal(mock.stats.completionTokens, 12 * MAX_TOKENS);

  const p50 = single(await prom.query(`histogram_quantile(0.5, sum by (le) (rate(time_to_first_token_seconds_bucket${JOB}[30s])))`));
  assert.ok(p50.value > 0.25 && p50.value <= 0.5, `TTFT p50 ${p50.value} s is in the (0.25, 0.5] bucket`);

  // The recording rules, evaluated every second: one series per backend and endpoint, no instance label.
  const qps = single(
    await prom.waitFor(`inference_proxy:input_requests:rate1m${CHAT_ONLY}`, (r) => r.length === 1 && (r[0]?.value ?? 0) > 0),
  );
  assert.deepEqual(qps.metric, { __name__: 'inference_proxy:input_requests:rate1m', url: mock.url, endpoint: CHAT });
  const ok = single(await prom.waitFor('inference_proxy:output_requests:rate1m{status_class="2xx"}', (r) => (r[0]?.value ?? 0) > 0));
  assert.equal(ok.metric.endpoint, CHAT);
  await prom.waitFor('inference_proxy:prompt_tokens:rate1m', (r) => (r[0]?.value ?? 0) > 0);
  await prom.waitFor('inference_proxy:completion_tokens:rate1m', (r) => (r[0]?.value ?? 0) > 0);
  await prom.waitFor(`inference_proxy:output_requests:error_ratio_rate5m${CHAT_ONLY}`, (r) => r.length === 1 && r[0]?.value === 0);
  const ttft = single(
    await prom.waitFor('inference_proxy:time_to_first_token_seconds:p50_rate5m', (r) => Number.isFinite(r[0]?.value ?? Number.NaN)),
  );
  assert.deepEqual(ttft.metric, { __name__: 'inference_proxy:time_to_first_token_seconds:p50_rate5m', url: mock.url });
  assert.ok(ttft.value > 0.25 && ttft.value <= 0.5, `recorded TTFT p50 ${ttft.value} s is in the (0.25, 0.5] bucket`);
  await prom.waitFor('inference_proxy:time_to_first_token_seconds:p99_rate5m', (r) => (r[0]?.value ?? 0) > 0.25);
  // One token every 20 ms at most is 50 tokens/s at most: the median lies in (40, 60] or lower on a busy host.
  const decode = single(
    await prom.waitFor('inference_proxy:decoding_throughput_tokens_per_second:p50_rate5m', (r) =>
      Number.isFinite(r[0]?.value ?? Number.NaN),
    ),
  );
  assert.ok(decode.value > 10 && decode.value <= 60, `decoding throughput p50 ${decode.value} tokens/s`);
  await prom.waitFor('inference_proxy:decoding_throughput_tokens_per_second:p99_rate5m', (r) => (r[0]?.value ?? 0) > 10);

  // Every recording and alerting rule loaded and evaluates without error; none fires or is pending.
  type Rule = { name: string; health: string; lastError?: string };
  const groups = await eventually(
    'every rule evaluated once',
    async () => ((await prom.api('/api/v1/rules')) as { groups: Array<{ name: string; rules: Rule[] }> }).groups,
    (list) => list.every((g) => g.rules.every((r) => r.health !== 'unknown')),
    { timeoutMs: 15_000, everyMs: 200 },
  );
  assert.deepEqual(groups.map((g) => g.name).sort(), ['inference_proxy_alerts', 'inference_proxy_recording']);
  const rules = groups.flatMap((g) => g.rules);
  assert.equal(rules.length, RECORDING_RULES + ALERTING_RULES);
  assert.deepEqual(
    rules.filter((r) => r.health !== 'ok'),
    [],
    'every rule evaluates cleanly',
  );
  const alerts = (await prom.api('/api/v1/alerts')) as { alerts: unknown[] };
  assert.deepEqual(alerts.alerts, [], 'a healthy proxy raises no alert');
});

test('two proxy instances scraped by one Prometheus: the rules sum them per backend and endpoint', {
  skip,
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  requireInstalled();
  const mock = await startMockBackend(t);
  // Two separate clusters (2 workers and 1 worker) in front of the same backend URL.
  const [a, b] = await Promise.all([proxyWithMetricsPort(t, mock, 2), proxyWithMetricsPort(t, mock, 1)]);
  const prom = await prometheus(t, [a.target, b.target]);

  // First one request each, scraped, so that the measured requests show up as an increase.
  await Promise.all([chat(a.proxy, false), chat(b.proxy, false)]);
  await prom.waitFor(`input_requests_total${JOB_CHAT}`, (r) => r.length === 2 && r.every((s) => s.value === 1));
  await Promise.all([
    ...Array.from({ length: 6 }, (_, i) => chat(a.proxy, i % 2 === 0)),
    ...Array.from({ length: 4 }, (_, i) => chat(b.proxy, i % 2 === 0)),
  ]);
  await prom.waitFor(`sum(input_requests_total${JOB_CHAT})`, total(12));

  const perInstance = await prom.query(`input_requests_total${JOB_CHAT}`);
  assert.deepEqual(
    Object.fromEntries(perInstance.map((s) => [s.metric.instance, s.value])),
    { [a.target]: 7, [b.target]: 5 },
    'each instance counted its own requests',
  );
  const summed = single(await prom.query(`sum by (url, endpoint) (input_requests_total${JOB_CHAT})`));
  assert.deepEqual(summed, { metric: { url: mock.url, endpoint: CHAT }, value: 12 });

  // The recording rule is one series for the backend and endpoint, and equals the sum of both instances'
  // rates at its evaluation time. A scrape that lands between the rule's evaluation and our query can
  // change the raw side, so compare at a few evaluations (1 s apart) until one is undisturbed.
  const evaluation = await eventually(
    'the rule equals the sum of the per-instance rates at one evaluation',
    async () => {
      const stamp = single(await prom.query(`timestamp(inference_proxy:input_requests:rate1m${CHAT_ONLY})`));
      const time = stamp.value.toFixed(3);
      const rule = single(await prom.query(`inference_proxy:input_requests:rate1m${CHAT_ONLY}`, time));
      const rates = await prom.query(`rate(input_requests_total${JOB_CHAT}[1m])`, time);
      return { rule, rates };
    },
    ({ rule, rates }) =>
      rates.length === 2 && rates.every((s) => s.value > 0) && Math.abs(rule.value - rates.reduce((acc, s) => acc + s.value, 0)) < 1e-9,
    { timeoutMs: 15_000, everyMs: 1_100 },
  );
  assert.deepEqual(evaluation.rule.metric, { __name__: 'inference_proxy:input_requests:rate1m', url: mock.url, endpoint: CHAT });
  const output = await prom.waitFor('inference_proxy:output_requests:rate1m', (r) => r.length > 0);
  assert.deepEqual(
    output.map((s) => s.metric),
    [{ __name__: 'inference_proxy:output_requests:rate1m', url: mock.url, endpoint: CHAT, status_class: '2xx' }],
    'output QPS is one series per backend, endpoint and status class too',
  );
});

test('a real Prometheus on a proxy with two backends: request share, retries, a backend down, all down with panic, every dashboard query', {
  skip,
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  requireInstalled();
  const [a, b] = await Promise.all([startMockBackend(t), startMockBackend(t)]);
  const proxy = await startCluster(t, [...FLEET_ARGS, ...BODY_LIMIT_ARGS, '--backend-url', `${a.url},${b.url}`, '--metrics-port', '0']);
  const target = new URL(await metricsPortUrl(proxy)).host;
  const prom = await prometheus(t, [target]);
  const { dashboard } = loadDashboard();
  const backendsRow = panelsOfRow(dashboard, 'Backends');
  const shareExpr = backendsRow.find((panel) => panel.title === 'Request share per backend')?.targets?.[0]?.expr;
  assert.ok(shareExpr, 'the dashboard has a request share panel');

  // Both healthy: one request each first (rate() only sees a series grow after its first sample), one
  // answered by the proxy itself, then two more each.
  await plainChat(proxy);
  await plainChat(proxy);
  const tooLarge = await send(`${proxy.url}${CHAT}`, { body: OVER_LIMIT_BODY, headers: JSON_HEADERS });
  assert.equal(tooLarge.status, 413, tooLarge.text);
  await prom.waitFor(`output_requests_total${JOB_CHAT}`, (r) => r.length === 3);
  for (let i = 0; i < 4; i++) await plainChat(proxy);
  assert.deepEqual([a.stats.completionRequests, b.stats.completionRequests], [3, 3], 'round-robin alternates');
  await prom.waitFor(`sum(output_requests_total{job="inference-proxy",status="200"})`, total(6));

  // The share panel: each backend's rate over the backends' total, url="none" on neither side.
  // Both queries at one evaluation time, so that they read the same samples.
  const stamp = (Date.now() / 1000).toFixed(3);
  const share = byUrl(await prom.query(asPromql(shareExpr, DASHBOARD_RATE_INTERVAL), stamp));
  const rates = byUrl(await prom.query(`sum by (url) (rate(output_requests_total{url!="none"}[${DASHBOARD_RATE_INTERVAL}]))`, stamp));
  assert.deepEqual(Object.keys(share).sort(), [a.url, b.url].sort(), 'one share per backend, none for url="none"');
  const all = (rates[a.url] as number) + (rates[b.url] as number);
  for (const url of [a.url, b.url]) {
    assert.ok(Math.abs((share[url] as number) - (rates[url] as number) / all) < FLOAT_TOLERANCE, `share of ${url}`);
  }
  assert.ok(Math.abs((share[a.url] as number) + (share[b.url] as number) - 1) < FLOAT_TOLERANCE, 'the shares add up to 1');

  // B answers every completion 503: each is retried on A (no byte had reached the client), and counted
  // against B. The retry series appears with the first retry, so again: one first, then more.
  b.control({ completionStatus: 503 });
  await untilReceived(proxy, b, 1);
  await prom.waitFor(`upstream_retries_total${JOB}`, (r) => r.length === 1);
  await untilReceived(proxy, b, 2);
  // A answered every completion it received, its own and B's.
  await prom.waitFor(`sum(output_requests_total{job="inference-proxy",url="${a.url}",status="200"})`, total(a.stats.completionRequests));
  const retries = await prom.query(`upstream_retries_total${JOB}`);
  assert.deepEqual(
    retries.map((s) => [s.metric.url, s.metric.reason, s.value]),
    [[b.url, '503', b.stats.completionRequests - 3]],
    'every completion B failed was retried, and counted once against B',
  );
  const ratio = byUrl(
    await prom.waitFor('inference_proxy:upstream_retries:ratio_rate5m', (r) => r.length === 2 && (byUrl(r)[b.url] ?? 0) > 0.05),
  );
  assert.equal(ratio[a.url], 0, 'A had no retry');
  await expectPending(prom, 'HighRetryRate', { severity: 'warning', url: b.url });

  // B's health checks fail: it goes down while still probed. A stays up, so no instance is without a backend.
  b.control({ health: 503, completionStatus: null });
  await prom.waitFor(`backend_up{job="inference-proxy",url="${b.url}"}`, (r) => r.length === 1 && r[0]?.value === 0);
  await expectPending(prom, 'BackendDown', { severity: 'warning', url: b.url });
  assert.deepEqual(await prom.query('ALERTS{alertname="AllBackendsDown"}'), [], 'A is still up');

  // A's too: /healthz turns 503 (a load balancer goes to another instance) while /livez stays 200 (no
  // orchestrator restarts the proxy). A request is still tried in panic mode, and both still answer it.
  a.control({ health: 503 });
  await eventually(
    '/healthz 503 with no backend up',
    async () => (await send(`${proxy.url}/healthz`)).status,
    (status) => status === 503,
    { timeoutMs: 5_000, everyMs: 50 },
  );
  assert.equal((await send(`${proxy.url}/livez`)).status, 200);
  await plainChat(proxy);
  await prom.waitFor(`sum(backend_panic_total${JOB})`, total(1));
  await expectPending(prom, 'AllBackendsDown', { severity: 'critical', job: 'inference-proxy', instance: target });

  // Every dashboard query runs on the real PromQL engine (the other tests read them lexically), and each
  // query of the Backends row has something to plot after all this.
  const failed: string[] = [];
  for (const { where, expr } of dashboardQueries(dashboard)) {
    await prom.query(asPromql(expr, DASHBOARD_RATE_INTERVAL)).catch((err: Error) => failed.push(`${where}: ${err.message}`));
  }
  assert.deepEqual(failed, [], 'dashboard queries Prometheus refuses');
  const empty: string[] = [];
  for (const panel of backendsRow) {
    for (const query of panel.targets ?? []) {
      if ((await prom.query(asPromql(query.expr ?? '', DASHBOARD_RATE_INTERVAL))).length === 0) empty.push(`${panel.title}: ${query.expr}`);
    }
  }
  assert.deepEqual(empty, [], 'Backends row queries without a series');
});
