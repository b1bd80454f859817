import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { type TestContext, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { createMockBackend } from '../../src/mock-backend/create-mock-backend.js';
import { eventually } from '../helpers/fault-tools.js';
import { chatBody, send } from '../helpers/http.js';
import { buckets, sample } from '../helpers/metrics-text.js';
import { type RunningProxy, startProxy } from '../helpers/start-proxy.js';

const run = promisify(execFile);
const TEST_TIMEOUT_MS = 90_000;

async function backend(t: TestContext) {
  const mock = await createMockBackend({ port: 0 });
  t.after(() => mock.close());
  return mock;
}

async function proxy(t: TestContext, args: string[]): Promise<RunningProxy> {
  const running = await startProxy(args);
  t.after(() => running.stop());
  return running;
}

async function workerPids(primaryPid: number): Promise<number[]> {
  const { stdout } = await run('pgrep', ['-P', String(primaryPid)]);
  return stdout.split('\n').filter(Boolean).map(Number).sort();
}

/**
 * Known traffic: 10 non-streamed chats with 3 s to first byte (inside the (2, 5] bucket with a second of margin
 * either way, so a loaded machine cannot move them), 6 fast streamed completions, 4 model lists.
 */
async function driveKnownTraffic(url: string): Promise<void> {
  const chats = Array.from({ length: 10 }, () =>
    send(`${url}/inference/v1/chat/completions`, {
      body: chatBody(),
      headers: { 'content-type': 'application/json', 'x-mock-ttft-ms': '3000' },
    }),
  );
  const streams = Array.from({ length: 6 }, () =>
    send(`${url}/v1/completions`, { body: JSON.stringify({ model: 'mock-model', prompt: 'say hi', max_tokens: 3, stream: true }) }),
  );
  const models = Array.from({ length: 4 }, () => send(`${url}/inference/v1/models`));
  for (const res of await Promise.all([...chats, ...streams, ...models])) assert.equal(res.status, 200, res.text);
}

function assertKnownTotals(text: string, url: string, factor = 1): void {
  const chat = { url, endpoint: '/v1/chat/completions' };
  const completions = { url, endpoint: '/v1/completions' };
  const models = { url, endpoint: '/v1/models' };
  assert.equal(sample(text, 'input_requests_total', chat), 10 * factor);
  assert.equal(sample(text, 'input_requests_total', completions), 6 * factor);
  assert.equal(sample(text, 'input_requests_total', models), 4 * factor);
  assert.equal(sample(text, 'output_requests_total', { ...chat, status: '200' }), 10 * factor);
  assert.equal(sample(text, 'output_requests_total', { ...completions, status: '200' }), 6 * factor);
  assert.equal(sample(text, 'output_requests_total', { ...models, status: '200' }), 4 * factor);
  const n = 10 * factor;
  assert.deepEqual(buckets(text, 'time_to_first_byte_seconds', chat), {
    '0.1': 0,
    '0.5': 0,
    '1': 0,
    '2': 0,
    '5': n,
    '10': n,
    '30': n,
    '60': n,
    '+Inf': n,
  });
  // The design's duration buckets end at 1 s: 3 s requests are counted only in +Inf.
  assert.deepEqual(buckets(text, 'request_duration_seconds', chat), {
    '0.001': 0,
    '0.005': 0,
    '0.01': 0,
    '0.05': 0,
    '0.1': 0,
    '0.5': 0,
    '1': 0,
    '+Inf': n,
  });
  assert.equal(sample(text, 'time_to_first_byte_seconds_count', completions), 6 * factor);
  // Fast streams: their placement below 0.1 s depends on machine load, so only the total is exact.
  assert.equal(buckets(text, 'time_to_first_byte_seconds', completions)['+Inf'], 6 * factor);
  assert.equal(sample(text, 'request_duration_seconds_count', models), 4 * factor);
  assert.equal(sample(text, 'in_flight_requests', { url }), 0);
}

test('aggregated /metrics: exact counts and buckets from 2 workers, identical whichever worker answers', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const mock = await backend(t);
  const running = await proxy(t, ['--workers', '2', '--backend-url', mock.url, '--metrics-port', '0']);
  await driveKnownTraffic(running.url);
  // Log lines are written in batches (at most 100 ms late): wait for all 20 access lines, bounded.
  const access = await eventually(
    () => running.lines.filter((line) => line.msg === 'access'),
    (lines) => lines.length >= 20,
    'an access line for each of the 20 requests',
  );
  const servedBy = new Set(access.map((line) => line.worker));
  assert.equal(servedBy.size, 2, 'both workers served traffic');

  const scrapes = await Promise.all(Array.from({ length: 6 }, () => send(`${running.url}/metrics`)));
  const scrapedBy = new Set<unknown>();
  for (const scrape of scrapes) {
    assert.equal(scrape.status, 200);
    assert.match(String(scrape.headers['content-type']), /text\/plain/);
    assertKnownTotals(scrape.text, mock.url);
    assert.equal(sample(scrape.text, 'workers_alive'), 2);
  }
  // The same numbers on the primary's own metrics port.
  const metricsPortLine = await running.waitForLine((line) => line.msg === 'metrics port listening');
  const primaryScrape = await send(`http://127.0.0.1:${metricsPortLine.port}/metrics`);
  assertKnownTotals(primaryScrape.text, mock.url);
  scrapedBy.add('primary');
  const health = JSON.parse((await send(`${running.url}/healthz`)).text);
  assert.equal(health.status, 'ok');
  assert.equal(health.workersAlive, 2);
});

test('a killed worker is replaced and counter totals never drop', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const mock = await backend(t);
  const running = await proxy(t, ['--workers', '2', '--backend-url', mock.url, '--access-log', 'off']);
  await driveKnownTraffic(running.url);
  assertKnownTotals((await send(`${running.url}/metrics`)).text, mock.url);

  const [victim] = await workerPids(running.child.pid as number);
  process.kill(victim as number, 'SIGKILL');
  await running.waitForLine((line) => line.msg === 'worker died, restarting it' && line.worker_pid === victim);
  const after = (await send(`${running.url}/metrics`)).text;
  assertKnownTotals(after, mock.url);

  const died = running.lines.findIndex((line) => line.msg === 'worker died, restarting it');
  await running.waitForLine((line) => line.msg === 'worker listening' && running.lines.indexOf(line) > died);
  const pids = await workerPids(running.child.pid as number);
  assert.equal(pids.length, 2);
  assert.ok(!pids.includes(victim as number));
  await driveKnownTraffic(running.url);
  const text = (await send(`${running.url}/metrics`)).text;
  assertKnownTotals(text, mock.url, 2);
  assert.equal(sample(text, 'worker_restarts_total'), 1);
});

test('a scrape answers with the rest when one worker does not respond', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const mock = await backend(t);
  const running = await proxy(t, ['--workers', '2', '--backend-url', mock.url, '--metrics-port', '0', '--access-log', 'off']);
  const portLine = await running.waitForLine((line) => line.msg === 'metrics port listening');
  await driveKnownTraffic(running.url);
  const metricsUrl = `http://127.0.0.1:${portLine.port}/metrics`;
  assertKnownTotals((await send(metricsUrl)).text, mock.url);
  const [frozen] = await workerPids(running.child.pid as number);
  process.kill(frozen as number, 'SIGSTOP');
  t.after(() => {
    try {
      process.kill(frozen as number, 'SIGCONT');
    } catch {}
  });
  const started = Date.now();
  const scrape = await send(metricsUrl);
  const elapsedMs = Date.now() - started;
  assert.equal(scrape.status, 200);
  assert.ok(elapsedMs < 8_000, `scrape took ${elapsedMs} ms`);
  // The frozen worker is represented by its last snapshot: totals still complete.
  assertKnownTotals(scrape.text, mock.url);
  assert.equal(sample(scrape.text, 'metrics_scrape_worker_failures_total'), 1);
  process.kill(frozen as number, 'SIGCONT');
});

test('the aggregated exposition passes promtool check metrics', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const promtool = await run('which', ['promtool']).then(
    () => true,
    () => false,
  );
  if (!promtool) {
    // CI installs it (.ci/run); only a developer machine without it may skip.
    assert.ok(!process.env.CI, 'promtool must be installed in CI');
    t.skip('promtool is not installed (apt-get install prometheus)');
    return;
  }
  const mock = await backend(t);
  const running = await proxy(t, ['--workers', '2', '--backend-url', mock.url, '--access-log', 'off']);
  await driveKnownTraffic(running.url);
  await send(`${running.url}/v1/nothing-here`);
  const text = (await send(`${running.url}/metrics`)).text;
  const child = execFile('promtool', ['check', 'metrics']);
  const output: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stdin?.end(text);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, output.join(''));
});

test('SIGTERM lets an in-flight stream finish, then the primary exits 0 with no worker left', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const mock = await backend(t);
  const running = await proxy(t, ['--workers', '2', '--backend-url', mock.url, '--drain-timeout', '10000']);
  const pids = await workerPids(running.child.pid as number);
  const stream = send(`${running.url}/v1/chat/completions`, {
    body: chatBody({ stream: true, max_tokens: 20 }),
    headers: { 'x-mock-token-delay-ms': '50' },
  });
  await delay(300);
  const code = await running.stop('SIGTERM');
  const res = await stream;
  assert.equal(res.status, 200);
  assert.match(res.text, /data: \[DONE\]\n\n$/);
  assert.equal(code, 0);
  for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/);
});

test('SIGHUP replaces every worker one at a time while a stream keeps flowing', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const mock = await backend(t);
  const running = await proxy(t, ['--workers', '2', '--backend-url', mock.url, '--drain-timeout', '10000', '--access-log', 'off']);
  await driveKnownTraffic(running.url);
  const before = await workerPids(running.child.pid as number);
  const stream = send(`${running.url}/v1/chat/completions`, {
    body: chatBody({ stream: true, max_tokens: 30 }),
    headers: { 'x-mock-token-delay-ms': '50' },
  });
  await delay(200);
  running.child.kill('SIGHUP');
  await running.waitForLine((line) => line.msg === 'rolling restart finished');
  const res = await stream;
  assert.equal(res.status, 200);
  assert.match(res.text, /data: \[DONE\]\n\n$/);
  await running.waitForLine(() => running.lines.filter((line) => line.msg === 'worker exited').length >= 2);
  const after = await workerPids(running.child.pid as number);
  assert.equal(after.length, 2);
  for (const pid of before) assert.ok(!after.includes(pid), 'every old worker was replaced');
  const text = (await send(`${running.url}/metrics`)).text;
  const chat = { url: mock.url, endpoint: '/v1/chat/completions' };
  assert.equal(sample(text, 'input_requests_total', chat), 11);
  assert.equal(sample(text, 'output_requests_total', { ...chat, status: '200' }), 11);
  assert.equal(sample(text, 'input_requests_total', { url: mock.url, endpoint: '/v1/completions' }), 6);
  assert.equal(sample(text, 'output_requests_total', { url: mock.url, endpoint: '/v1/models', status: '200' }), 4);
  assert.equal(sample(text, 'in_flight_requests', { url: mock.url }), 0);
  assert.equal(sample(text, 'worker_restarts_total'), 2);
});
