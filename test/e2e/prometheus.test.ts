import assert from 'node:assert/strict';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { MockBackend } from '../../src/mock-backend/create-mock-backend.js';
import { chatBody, send } from '../helpers/http.js';
import { startMockBackend } from '../helpers/mock-backend.js';
import { hasCommand, run } from '../helpers/processes.js';
import { type RunningPrometheus, type Sample, startPrometheus } from '../helpers/prometheus-server.js';
import { metricsPortUrl, type RunningProxy, startCluster } from '../helpers/start-proxy.js';
import { eventually } from '../helpers/wait.js';

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
const RECORDING_RULES = 11;
const ALERTING_RULES = 9;

const PROMTOOL_TIMEOUT_MS = 30_000;

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
