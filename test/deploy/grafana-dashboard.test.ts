import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePromText, sampleValue } from '../../src/metrics/prom-text.js';
import { declaredLabels, servedProxy } from '../helpers/deploy-fixture.js';
import { allPanels, dashboardQueries, loadDashboard, panelsOfRow, queryOf, type Variable } from '../helpers/grafana-dashboard.js';
import { familyOf, PROMQL_FUNCTIONS, parseLabelValues, promqlRefs } from '../helpers/promql-names.js';

const TEST_TIMEOUT_MS = 60_000;
/** How every panel names its datasource: the dashboard's `datasource` variable. */
const DATASOURCE_UID = '$' + '{datasource}';
/** Labels Prometheus (Operator) attaches to every scraped series; a dashboard may group by them. */
const TARGET_LABELS = ['job', 'instance', 'namespace', 'pod', 'container', 'service'];
/**
 * The fleet's metrics (issue 11 point 6) and the labels the Backends row must split each one by: one line per
 * backend, and per reason or result where the metric has one; the panic counter by its scope.
 */
const FLEET_SPLITS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['backend_up', ['url']],
  ['backend_in_flight_requests', ['url']],
  ['upstream_retries_total', ['url', 'reason']],
  ['backend_health_checks_total', ['url', 'result']],
  ['backend_ejections_total', ['url', 'reason']],
  ['backend_panic_total', ['scope']],
];
/** What the proxy answered itself, before choosing a backend: never a backend's share. */
const NO_BACKEND = 'url!="none"';

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
  const { mock, exposition, text } = await servedProxy();
  const metrics = parsePromText(text);
  // The traffic created the series the dashboard plots (names also appear in # TYPE lines without samples).
  assert.equal(sampleValue(metrics, 'output_requests_total', { url: mock.url, endpoint: 'other', status: '404' }), 1);
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
    assert.ok(
      (metrics.get(metric) ?? []).some((sample) => sample.labels[labelValues.label] !== undefined),
      `$${variable.name}: no ${metric} series with a ${labelValues.label} label`,
    );
  }

  const own = declaredLabels();
  const notShown = [...own.keys()].filter((name) => !used.has(name));
  if (notShown.length > 0) t.diagnostic(`proxy metrics not on the dashboard: ${notShown.join(', ')}`);
});

test('the labels the dashboard filters and groups by exist on the metrics it queries', { timeout: TEST_TIMEOUT_MS }, async () => {
  const { dashboard } = loadDashboard();
  const { exposition, text } = await servedProxy();
  const metrics = parsePromText(text);
  const declared = declaredLabels();
  /** Declared labels, or for prom-client's default metrics the labels seen on the live samples. */
  const labelsOf = (family: string): Set<string> => {
    const own = declared.get(family);
    if (own) return new Set(own);
    const seen = new Set<string>();
    for (const [name, samples] of metrics) {
      if (familyOf(name, exposition) !== family) continue;
      for (const sample of samples) for (const label of Object.keys(sample.labels)) if (label !== 'le') seen.add(label);
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

test('the Backends row plots each fleet metric split per backend, and each backend’s share of the responses', () => {
  const { dashboard } = loadDashboard();
  const backends = panelsOfRow(dashboard, 'Backends');
  const queries = backends.flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({ title: panel.title ?? '', expr: target.expr ?? '', refs: promqlRefs(target.expr ?? '') })),
  );
  for (const [metric, labels] of FLEET_SPLITS) {
    const plotting = queries.filter((query) => query.refs.metrics.includes(metric));
    assert.equal(plotting.length, 1, `one query of the Backends row plots ${metric}`);
    assert.deepEqual(
      [...(plotting[0]?.refs.groupingLabels ?? [])].sort(),
      [...labels].sort(),
      `${metric} is split by ${labels.join(', ')}`,
    );
  }
  const up = backends.find((panel) => (panel.targets ?? []).some((target) => target.expr?.includes('backend_up')));
  assert.equal(up?.type, 'state-timeline', 'up and down over time');

  // The share divides each backend's responses by all of them; the proxy's own answers (url="none") count
  // on neither side, or the backends' shares would not add up to 1.
  const share = queries.filter((query) => query.title === 'Request share per backend');
  assert.equal(share.length, 1);
  const { expr, refs } = share[0] as (typeof share)[number];
  assert.deepEqual(refs.metrics, ['output_requests_total']);
  const selectors = expr.match(/output_requests_total\{[^}]*\}/g) ?? [];
  assert.equal(selectors.length, 2, 'numerator and denominator');
  for (const selector of selectors) assert.ok(selector.includes(NO_BACKEND), `${selector} leaves out url="none"`);
  assert.match(expr, /^sum by \(url\) \(.*\) \/ ignoring \(url\) group_left sum\(/);
});

test('the Tenants row plots each tenant metric split by key (and its status, kind or limit)', () => {
  const { dashboard } = loadDashboard();
  const queries = panelsOfRow(dashboard, 'Tenants').flatMap((panel) =>
    (panel.targets ?? []).map((target) => promqlRefs(target.expr ?? '')),
  );
  const splits: ReadonlyArray<readonly [string, readonly string[]]> = [
    ['tenant_requests_total', ['key', 'status']],
    ['tenant_tokens_total', ['key', 'kind']],
    ['ratelimit_rejected_total', ['key', 'limit']],
    ['tenant_budget_remaining_tokens', ['key']],
    ['ratelimit_store_errors_total', ['instance']],
  ];
  for (const [metric, labels] of splits) {
    const plotting = queries.filter((refs) => refs.metrics.includes(metric));
    assert.equal(plotting.length, 1, `one query of the Tenants row plots ${metric}`);
    assert.deepEqual([...(plotting[0]?.groupingLabels ?? [])].sort(), [...labels].sort(), `${metric} is split by ${labels.join(', ')}`);
  }
});
