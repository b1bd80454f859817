import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OUTCOMES } from '../../src/llm/completion-tracker.js';
import { parsePromText } from '../../src/metrics/prom-text.js';
import { eventually } from '../../support/wait.js';
import { postChat, startFleetProxy, startMocks } from '../helpers/fleet.js';
import { send } from '../helpers/http.js';

const CHAT = '/v1/chat/completions';
const TEXT = '/v1/completions';
/** The counters of a configured backend's two completion endpoints: the only series created at 0. */
const PRE_CREATED_COUNTERS = ['input_requests_total', 'prompt_tokens_total', 'completion_tokens_total', 'usage_estimated_total'];
/** What a configured backend reports at any time: its current load and its state from the primary. */
const BACKEND_GAUGES = ['in_flight_requests', 'input_qps', 'output_qps', 'backend_in_flight_requests', 'backend_up', 'backend_weight'];

/** Every series of `url` as `name{label=value,…}` without the url (and without le: one line per series), sorted. */
function seriesOf(text: string, url: string): string[] {
  const out = new Set<string>();
  for (const samples of parsePromText(text).values()) {
    for (const { name, labels } of samples) {
      if (labels.url !== url) continue;
      const rest = Object.entries(labels)
        .filter(([key]) => key !== 'url' && key !== 'le')
        .map(([key, value]) => `${key}=${value}`)
        .join(',');
      out.add(`${name}{${rest}}`);
    }
  }
  return [...out].sort();
}

function completionCounters(endpoint: string): string[] {
  return [
    ...PRE_CREATED_COUNTERS.map((name) => `${name}{endpoint=${endpoint}}`),
    ...OUTCOMES.map((outcome) => `stream_outcomes_total{endpoint=${endpoint},outcome=${outcome}}`),
  ];
}

function histogram(name: string, endpoint: string): string[] {
  return ['_bucket', '_sum', '_count'].map((suffix) => `${name}${suffix}{endpoint=${endpoint}}`);
}

test('series exist once their labels are seen: a backend without traffic has only its completion counters at 0 and its gauges', {
  timeout: 60_000,
}, async (t) => {
  const [served, idle] = await startMocks(t, [{ models: ['a'] }, { models: ['b'] }]);
  const proxy = await startFleetProxy(t, [served!.url, idle!.url], ['--workers', '2', '--discovery-interval', '30s']);
  // Both model lists are known before the first request, so every request for `a` goes to its backend.
  await eventually(
    'both backends discovered',
    async () => (await send(`${proxy.url}/v1/models`)).text,
    (body) => ['"a"', '"b"'].every((id) => body.includes(id)),
  );
  for (let i = 0; i < 4; i++) {
    const stream = i % 2 === 0;
    const res = await postChat(proxy.url, { model: 'a', stream });
    assert.equal(res.status, 200, res.text);
  }
  const text = (await send(`${proxy.url}/metrics`)).text;

  const gauges = [...BACKEND_GAUGES.map((name) => `${name}{}`)];
  assert.deepEqual(
    seriesOf(text, idle!.url),
    [...completionCounters(CHAT), ...completionCounters(TEXT), ...gauges, 'backend_models{model=b}'].sort(),
  );
  assert.deepEqual(
    seriesOf(text, served!.url),
    [
      ...completionCounters(CHAT),
      ...completionCounters(TEXT),
      ...gauges,
      'backend_models{model=a}',
      `output_requests_total{endpoint=${CHAT},status=200}`,
      ...[
        'time_to_first_byte_seconds',
        'request_duration_seconds',
        'proxy_overhead_seconds',
        'time_to_first_token_seconds',
        'time_per_output_token_seconds',
        'decoding_throughput_tokens_per_second',
        'request_prompt_tokens',
        'request_completion_tokens',
      ].flatMap((name) => histogram(name, CHAT)),
    ].sort(),
  );
  // Requests the proxy answered itself (url `none`): only the GET /v1/models above, and the gauges.
  assert.deepEqual(
    seriesOf(text, 'none'),
    [
      'in_flight_requests{}',
      'input_qps{}',
      'output_qps{}',
      'input_requests_total{endpoint=/v1/models}',
      'output_requests_total{endpoint=/v1/models,status=200}',
      ...histogram('request_duration_seconds', '/v1/models'),
    ].sort(),
  );
});
