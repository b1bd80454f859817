import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { buildConfig, ConfigError, configFromFlags, type ParseResult, parseBackendUrl } from '../../src/config/build-config.js';
import { usableCpuCount } from '../../src/config/cpu-count.js';
import * as d from '../../src/config/defaults.js';
import { FLAGS } from '../../src/config/flags.js';
import { parseBytes, parseDurationMs, parseInteger, parseOnOff } from '../../src/config/parse-units.js';
import type { Config } from '../../src/config/types.js';

// Every test starts with no INFERENCE_PROXY_* variable set and gets the original environment back afterwards.
let savedEnv: NodeJS.ProcessEnv = {};

beforeEach(() => {
  savedEnv = { ...process.env };
  for (const name of Object.keys(process.env)) {
    if (name.startsWith(`${d.ENV_PREFIX}_`)) delete process.env[name];
  }
});

afterEach(() => {
  for (const name of Object.keys(process.env)) {
    if (!(name in savedEnv)) delete process.env[name];
  }
  for (const [name, value] of Object.entries(savedEnv)) process.env[name] = value;
});

async function configOf(argv: string[]): Promise<Config> {
  const result = await buildConfig(argv);
  if (result.kind !== 'config') assert.fail(`expected a config for ${JSON.stringify(argv)}, got ${JSON.stringify(result)}`);
  return result.config;
}

function assertConfigExit(result: ParseResult, flag: string): void {
  assert.equal(result.kind, 'exit');
  if (result.kind !== 'exit') return;
  assert.equal(result.code, 2);
  assert.ok(result.output.startsWith(`inference-proxy: --${flag}: `), `output names --${flag}: ${JSON.stringify(result.output)}`);
  assert.equal(result.output.includes('\n'), false, 'output is one line');
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

const DEFAULT_CONFIG: Config = {
  backends: [
    { url: 'http://localhost:8000', origin: 'http://localhost:8000', basePath: '', weight: 1, models: null, maxConcurrency: null },
  ],
  host: '0.0.0.0',
  port: 8001,
  // What --workers auto resolves to here: the machine's CPUs capped by a cgroup quota (cpu-count.test.ts).
  workers: usableCpuCount(),
  clusterScheduling: 'none',
  stripPrefix: '/inference',
  logLevel: 'info',
  accessLog: true,
  injectUsage: true,
  serverTiming: false,
  holdStreamHead: true,
  upstreamConnections: d.DEFAULT_UPSTREAM_CONNECTIONS,
  connectTimeoutMs: d.DEFAULT_CONNECT_TIMEOUT_MS,
  headersTimeoutMs: d.DEFAULT_HEADERS_TIMEOUT_MS,
  bodyTimeoutMs: d.DEFAULT_BODY_TIMEOUT_MS,
  bodyLimitBytes: d.DEFAULT_BODY_LIMIT_BYTES,
  drainTimeoutMs: d.DEFAULT_DRAIN_TIMEOUT_MS,
  keepAliveTimeoutMs: d.DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
  maxInFlightPerWorker: d.AUTO_IN_FLIGHT_PER_WORKER,
  clientHeaderTimeoutMs: d.DEFAULT_CLIENT_HEADER_TIMEOUT_MS,
  apiKeyDigests: [],
  metricsPort: null,
  metricsHost: '127.0.0.1',
  routing: 'least-load',
  healthPath: '/health',
  healthIntervalMs: 5_000,
  healthTimeoutMs: 2_000,
  unhealthyThreshold: 2,
  healthyThreshold: 2,
  maxFails: 3,
  failTimeoutMs: 5_000,
  slowStartMs: 10_000,
  retries: 2,
  discoveryIntervalMs: 30_000,
  unknownModel: 'reject',
  sessionHeader: 'x-session-id',
  affinityLoadFactor: 1.5,
  prefixBytes: 1024,
  loadIntervalMs: 250,
  saturationWaiting: 5,
  saturationKv: 0.8,
  queue: true,
  queueTimeoutMs: 30_000,
  enginePriority: false,
  dnsRefreshMs: 0,
  dnsServer: null,
  removedSeriesGraceMs: 300_000,
  affinityBound: 'both',
  dashboardSampleMs: 10_000,
  keys: [],
  keyWarnings: [],
  defaultMaxTokens: 1024,
  allowAdminRoutes: false,
  redisUrl: null,
  redisTimeoutMs: 50,
  redisFailure: 'open',
};

test('no arguments give the documented defaults', async () => {
  const config = await configOf([]);
  assert.deepEqual(config, DEFAULT_CONFIG);
  assert.equal(config.connectTimeoutMs, 10_000);
  assert.equal(config.headersTimeoutMs, 600_000);
  assert.equal(config.bodyTimeoutMs, 300_000);
  assert.equal(config.bodyLimitBytes, 32 * 1024 * 1024);
  assert.equal(config.drainTimeoutMs, 30_000);
  assert.equal(config.keepAliveTimeoutMs, 65_000);
});

test('the config, its backend list and each backend are frozen', async () => {
  const config = await configOf([]);
  assert.equal(Object.isFrozen(config), true);
  assert.equal(Object.isFrozen(config.backends), true);
  assert.equal(Object.isFrozen(config.backends[0]), true);
  assert.throws(() => {
    (config as { port: number }).port = 1;
  }, TypeError);
});

test('every flag is parsed', async () => {
  const config = await configOf([
    '--backend-url',
    'https://llm.internal:9443/base/',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--workers',
    '3',
    '--strip-prefix',
    '/api/llm',
    '--log-level',
    'DEBUG',
    '--cluster-scheduling',
    'rr',
    '--access-log',
    'off',
    '--inject-usage',
    'off',
    '--server-timing',
    'on',
    '--hold-stream-head',
    'off',
    '--upstream-connections',
    '64',
    '--connect-timeout',
    '5s',
    '--headers-timeout',
    '0',
    '--body-timeout',
    '2m',
    '--body-limit',
    '512kb',
    '--drain-timeout',
    '1500',
    '--keep-alive-timeout',
    '70s',
    '--metrics-port',
    '9100',
    '--metrics-host',
    '0.0.0.0',
    '--max-in-flight',
    '300',
    '--client-header-timeout',
    '5s',
    '--api-key',
    'key-one',
    '--api-key',
    'key-two',
    '--routing',
    'Round-Robin',
    '--health-path',
    '/v1/health',
    '--health-interval',
    '2s',
    '--health-timeout',
    '500',
    '--unhealthy-threshold',
    '3',
    '--healthy-threshold',
    '4',
    '--max-fails',
    '0',
    '--fail-timeout',
    '7s',
    '--slow-start',
    '0',
    '--retries',
    '1',
    '--discovery-interval',
    '1m',
    '--unknown-model',
    'pass',
    '--session-header',
    'X-User-Session',
    '--affinity-load-factor',
    '1.5',
    '--prefix-bytes',
    '512',
    '--dns-refresh',
    '15s',
    '--dns-server',
    '127.0.0.1:5353',
    '--removed-series-grace',
    '30s',
    '--affinity-bound',
    'prefill',
    '--dashboard-sample-interval',
    '500',
    '--default-max-tokens',
    '256',
    '--allow-admin-routes',
    'on',
    '--redis-url',
    'rediss://:secret@redis.internal:6380/2',
    '--redis-timeout',
    '20',
    '--redis-failure',
    'closed',
    '--load-interval',
    '500ms',
    '--saturation-waiting',
    '2',
    '--saturation-kv',
    '0.9',
    '--queue',
    'off',
    '--queue-timeout',
    '10s',
    '--engine-priority',
    'on',
  ]);
  assert.deepEqual(config, {
    backends: [
      {
        url: 'https://llm.internal:9443/base',
        origin: 'https://llm.internal:9443',
        basePath: '/base',
        weight: 1,
        models: null,
        maxConcurrency: null,
      },
    ],
    host: '127.0.0.1',
    port: 0,
    workers: 3,
    clusterScheduling: 'rr',
    stripPrefix: '/api/llm',
    logLevel: 'debug',
    accessLog: false,
    injectUsage: false,
    serverTiming: true,
    holdStreamHead: false,
    upstreamConnections: 64,
    connectTimeoutMs: 5000,
    headersTimeoutMs: 0,
    bodyTimeoutMs: 120_000,
    bodyLimitBytes: 524_288,
    drainTimeoutMs: 1500,
    keepAliveTimeoutMs: 70_000,
    maxInFlightPerWorker: 100,
    clientHeaderTimeoutMs: 5000,
    apiKeyDigests: [sha256('key-one'), sha256('key-two')],
    metricsPort: 9100,
    metricsHost: '0.0.0.0',
    routing: 'round-robin',
    healthPath: '/v1/health',
    healthIntervalMs: 2_000,
    healthTimeoutMs: 500,
    unhealthyThreshold: 3,
    healthyThreshold: 4,
    maxFails: 0,
    failTimeoutMs: 7_000,
    slowStartMs: 0,
    retries: 1,
    discoveryIntervalMs: 60_000,
    unknownModel: 'pass',
    sessionHeader: 'x-user-session',
    affinityLoadFactor: 1.5,
    prefixBytes: 512,
    loadIntervalMs: 500,
    saturationWaiting: 2,
    saturationKv: 0.9,
    queue: false,
    queueTimeoutMs: 10_000,
    enginePriority: true,
    dnsRefreshMs: 15_000,
    dnsServer: '127.0.0.1:5353',
    removedSeriesGraceMs: 30_000,
    affinityBound: 'prefill',
    dashboardSampleMs: 500,
    keys: [],
    keyWarnings: [],
    defaultMaxTokens: 256,
    allowAdminRoutes: true,
    redisUrl: 'rediss://:secret@redis.internal:6380/2',
    redisTimeoutMs: 20,
    redisFailure: 'closed',
  });
});

test('--flag=value form is accepted', async () => {
  const config = await configOf(['--port=9000', '--body-limit=32mb', '--connect-timeout=30s']);
  assert.equal(config.port, 9000);
  assert.equal(config.bodyLimitBytes, 33_554_432);
  assert.equal(config.connectTimeoutMs, 30_000);
});

test('--workers auto means one per CPU this process may use', async () => {
  assert.equal((await configOf(['--workers', 'auto'])).workers, usableCpuCount());
  assert.equal((await configOf(['--workers', '1024'])).workers, 1024);
});

test("--strip-prefix '' turns stripping off", async () => {
  assert.equal((await configOf(['--strip-prefix', ''])).stripPrefix, '');
  assert.equal((await configOf(['--strip-prefix='])).stripPrefix, '');
});

test("--metrics-port '' leaves the metrics server off", async () => {
  assert.equal((await configOf(['--metrics-port', ''])).metricsPort, null);
  assert.equal((await configOf(['--metrics-port', '0'])).metricsPort, 0);
});

test('--access-log accepts on/off spellings', async () => {
  for (const on of ['on', 'ON', 'true', '1', 'yes']) assert.equal((await configOf(['--access-log', on])).accessLog, true, on);
  for (const off of ['off', 'Off', 'false', '0', 'no']) assert.equal((await configOf(['--access-log', off])).accessLog, false, off);
});

test('every log level is accepted', async () => {
  for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) {
    assert.equal((await configOf(['--log-level', level])).logLevel, level);
  }
});

test('timeouts accept units and reject values above the timer limit', async () => {
  assert.equal((await configOf(['--headers-timeout', '10m'])).headersTimeoutMs, 600_000);
  assert.equal((await configOf(['--body-timeout', '2147483647'])).bodyTimeoutMs, 2_147_483_647);
  assertConfigExit(await buildConfig(['--body-timeout', '2147483648']), 'body-timeout');
  assertConfigExit(await buildConfig(['--drain-timeout', '1000h']), 'drain-timeout');
});

const BAD_VALUES: ReadonlyArray<readonly [string, string]> = [
  ['port', '70000'],
  ['port', 'abc'],
  ['port', '-1'],
  ['port', '80.5'],
  ['port', ''],
  ['workers', '0'],
  ['workers', '1025'],
  ['workers', 'many'],
  ['backend-url', 'ftp://x'],
  ['backend-url', 'http://x/?q=1'],
  ['backend-url', 'http://x/#frag'],
  ['backend-url', 'http://user:pw@x/'],
  ['backend-url', 'not a url'],
  ['host', ''],
  ['host', '   '],
  ['strip-prefix', 'x'],
  ['strip-prefix', '/a/'],
  ['strip-prefix', '/'],
  ['strip-prefix', '/a b'],
  ['strip-prefix', '/a?b'],
  ['log-level', 'loud'],
  ['access-log', 'maybe'],
  ['upstream-connections', '0'],
  ['upstream-connections', '65536'],
  ['connect-timeout', '0'],
  ['connect-timeout', '10x'],
  ['headers-timeout', '-1'],
  ['body-timeout', '1e3'],
  ['body-limit', '0'],
  ['body-limit', '12tb'],
  ['drain-timeout', 'soon'],
  ['keep-alive-timeout', '0'],
  ['metrics-port', '99999'],
  ['metrics-port', 'x'],
  // The resolver takes addresses only: a name here crashed the primary with a stack trace at start.
  ['dns-server', 'nohost'],
  ['dns-server', 'dns.internal:53'],
  ['dns-server', '10.0.0.10:70000'],
  ['removed-series-grace', 'soon'],
  ['affinity-bound', 'either'],
  ['dashboard-sample-interval', '0'],
  ['redis-url', 'http://redis:6379'],
  ['redis-url', 'not a url'],
  ['redis-timeout', '0'],
  ['redis-failure', 'maybe'],
  ['default-max-tokens', '0'],
  ['allow-admin-routes', 'sometimes'],
];

for (const [flag, value] of BAD_VALUES) {
  test(`--${flag} ${JSON.stringify(value)} exits 2 with one line naming --${flag}`, async () => {
    assertConfigExit(await buildConfig([`--${flag}`, value]), flag);
    assertConfigExit(await buildConfig([`--${flag}=${value}`]), flag);
  });
}

test('the exact message for a few bad values', async () => {
  assert.deepEqual(await buildConfig(['--port', '70000']), {
    kind: 'exit',
    code: 2,
    output: 'inference-proxy: --port: expected an integer from 0 to 65535, got 70000',
  });
  assert.deepEqual(await buildConfig(['--port', 'abc']), {
    kind: 'exit',
    code: 2,
    output: 'inference-proxy: --port: expected an integer from 0 to 65535, got "abc"',
  });
  assert.deepEqual(await buildConfig(['--connect-timeout', '0']), {
    kind: 'exit',
    code: 2,
    output: 'inference-proxy: --connect-timeout: must be greater than 0',
  });
  assert.deepEqual(await buildConfig(['--body-limit', '0']), {
    kind: 'exit',
    code: 2,
    output: 'inference-proxy: --body-limit: must be at least 1 byte',
  });
});

test('--metrics-port equal to --port is refused: the second server could never bind', async () => {
  assert.deepEqual(await buildConfig(['--port', '9100', '--metrics-port', '9100']), {
    kind: 'exit',
    code: 2,
    output: "inference-proxy: --metrics-port: 9100 is the proxy's --port too; give the metrics server a port of its own",
  });
  assert.deepEqual(await buildConfig(['--metrics-port', '8001']), {
    kind: 'exit',
    code: 2,
    output: "inference-proxy: --metrics-port: 8001 is the proxy's --port too; give the metrics server a port of its own",
  });
  // 0 picks a free port for each: two different ones.
  const both = await buildConfig(['--port', '0', '--metrics-port', '0']);
  assert.equal(both.kind, 'config');
});

test('a flag given twice exits 2 naming the flag', async () => {
  assert.deepEqual(await buildConfig(['--port', '1', '--port', '2']), {
    kind: 'exit',
    code: 2,
    output: 'inference-proxy: --port: given more than once',
  });
  assertConfigExit(await buildConfig(['--metrics-port', '9100', '--metrics-port', '9101']), 'metrics-port');
});

test('an unknown flag or a positional argument exits 2 with one line', async () => {
  for (const argv of [['--bogus'], ['--bogus', 'x'], ['-p', '5'], ['extra']]) {
    const result = await buildConfig(argv);
    assert.equal(result.kind, 'exit', JSON.stringify(argv));
    if (result.kind !== 'exit') continue;
    assert.equal(result.code, 2);
    assert.ok(result.output.startsWith('inference-proxy: '), result.output);
    assert.equal(result.output.includes('\n'), false);
  }
  assert.deepEqual(await buildConfig(['--bogus']), { kind: 'exit', code: 2, output: 'inference-proxy: Unknown argument: bogus' });
});

test('--help exits 0 and documents every flag and the environment prefix', async () => {
  const result = await buildConfig(['--help']);
  assert.equal(result.kind, 'exit');
  if (result.kind !== 'exit') return;
  assert.equal(result.code, 0);
  for (const [flag, spec] of Object.entries(FLAGS)) {
    // Hidden flags are for the benchmark and the tests: --help leaves them out.
    assert.equal(result.output.includes(`--${flag}`), !('hidden' in spec), `--help mentions --${flag} unless hidden`);
  }
  assert.ok(result.output.includes('INFERENCE_PROXY_'));
  assert.ok(result.output.includes('INFERENCE_PROXY_BACKEND_URL'));
});

test('--version exits 0', async () => {
  const result = await buildConfig(['--version']);
  assert.equal(result.kind, 'exit');
  if (result.kind !== 'exit') return;
  assert.equal(result.code, 0);
  assert.match(result.output, /^\d+\.\d+\.\d+/);
});

test('environment variables set flags', async () => {
  process.env.INFERENCE_PROXY_PORT = '9000';
  process.env.INFERENCE_PROXY_BACKEND_URL = 'http://gpu:8080/v';
  process.env.INFERENCE_PROXY_STRIP_PREFIX = '';
  process.env.INFERENCE_PROXY_BODY_LIMIT = '1mb';
  const config = await configOf([]);
  assert.equal(config.port, 9000);
  assert.deepEqual(config.backends, [
    { url: 'http://gpu:8080/v', origin: 'http://gpu:8080', basePath: '/v', weight: 1, models: null, maxConcurrency: null },
  ]);
  assert.equal(config.stripPrefix, '');
  assert.equal(config.bodyLimitBytes, 1_048_576);
});

test('a flag overrides its environment variable', async () => {
  process.env.INFERENCE_PROXY_PORT = '9000';
  assert.equal((await configOf(['--port', '9001'])).port, 9001);
});

test('a flag wins even over an invalid environment value', async () => {
  process.env.INFERENCE_PROXY_PORT = 'abc';
  assert.equal((await configOf(['--port', '9001'])).port, 9001);
});

test('an invalid environment value names the variable that gave it', async () => {
  process.env.INFERENCE_PROXY_PORT = 'abc';
  assert.deepEqual(await buildConfig([]), {
    kind: 'exit',
    code: 2,
    output: 'inference-proxy: INFERENCE_PROXY_PORT: expected an integer from 0 to 65535, got "abc"',
  });
  delete process.env.INFERENCE_PROXY_PORT;
  process.env.INFERENCE_PROXY_LOG_LEVEL = 'loud';
  const result = await buildConfig([]);
  assert.ok(result.kind === 'exit' && result.output.startsWith('inference-proxy: INFERENCE_PROXY_LOG_LEVEL: '), JSON.stringify(result));
});

test('an empty metrics-port variable leaves the metrics server off', async () => {
  process.env.INFERENCE_PROXY_METRICS_PORT = '';
  assert.equal((await configOf([])).metricsPort, null);
});

test('an unknown INFERENCE_PROXY_* variable (a typo) exits 2 naming it', async () => {
  process.env.INFERENCE_PROXY_PORTT = '9000';
  assert.deepEqual(await buildConfig([]), {
    kind: 'exit',
    code: 2,
    output: 'inference-proxy: Unknown argument: INFERENCE_PROXY_PORTT (no such flag; did you mean INFERENCE_PROXY_PORT?)',
  });
  delete process.env.INFERENCE_PROXY_PORTT;
  // A dashed flag: yargs reports it in camelCase; the line still names the variable as it was set.
  process.env.INFERENCE_PROXY_BACKEND_URLS = 'http://gpu1:8000';
  assert.deepEqual(await buildConfig([]), {
    kind: 'exit',
    code: 2,
    output: 'inference-proxy: Unknown argument: INFERENCE_PROXY_BACKEND_URLS (no such flag; did you mean INFERENCE_PROXY_BACKEND_URL?)',
  });
  delete process.env.INFERENCE_PROXY_BACKEND_URLS;
  process.env.INFERENCE_PROXY_NOTHING_LIKE_IT = '1';
  assert.deepEqual(await buildConfig([]), {
    kind: 'exit',
    code: 2,
    output: 'inference-proxy: Unknown argument: INFERENCE_PROXY_NOTHING_LIKE_IT (no such flag)',
  });
  delete process.env.INFERENCE_PROXY_NOTHING_LIKE_IT;
  // A command-line typo is named as typed, with the flag it most likely meant.
  assert.deepEqual(await buildConfig(['--prot', '9000']), {
    kind: 'exit',
    code: 2,
    output: 'inference-proxy: Unknown argument: prot (did you mean --port?)',
  });
});

// yargs would fill a flag given without a value with its default, so `--port $PORT` with PORT unset would silently listen on 8001.
for (const flag of ['port', 'backend-url', 'host', 'strip-prefix']) {
  test(`--${flag} with no value is rejected`, async () => {
    assertConfigExit(await buildConfig([`--${flag}`]), flag);
  });
}

test("--metrics-host '' is rejected like --host ''", async () => {
  assertConfigExit(await buildConfig(['--metrics-host', '']), 'metrics-host');
});

test('configFromFlags turns raw flag values into a frozen config', () => {
  const flags: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(FLAGS)) flags[name] = 'default' in spec ? spec.default : undefined;
  const config = configFromFlags({ ...flags, port: '1234', 'metrics-port': undefined });
  assert.equal(Object.isFrozen(config), true);
  assert.deepEqual(config, { ...DEFAULT_CONFIG, port: 1234 });
});

test('configFromFlags throws a ConfigError naming the first bad flag', () => {
  const flags: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(FLAGS)) flags[name] = 'default' in spec ? spec.default : undefined;
  assert.throws(
    () => configFromFlags({ ...flags, workers: '0', port: 'x' }),
    (err: unknown) => err instanceof ConfigError && err.code === 'ERR_CONFIG' && err.message.startsWith('--port: '),
  );
  assert.throws(
    () => configFromFlags({ ...flags, 'body-limit': ['1', '2'] }),
    (err: unknown) => err instanceof ConfigError && err.message === '--body-limit: given more than once',
  );
});

test('parseBackendUrl splits origin and base path', () => {
  assert.deepEqual(parseBackendUrl('http://h:8000/base/'), { url: 'http://h:8000/base', origin: 'http://h:8000', basePath: '/base' });
  assert.deepEqual(parseBackendUrl('http://h:8000'), { url: 'http://h:8000', origin: 'http://h:8000', basePath: '' });
  assert.deepEqual(parseBackendUrl('http://h:8000/'), { url: 'http://h:8000', origin: 'http://h:8000', basePath: '' });
  assert.deepEqual(parseBackendUrl('https://h/a/b//'), { url: 'https://h/a/b', origin: 'https://h', basePath: '/a/b' });
  assert.deepEqual(parseBackendUrl('HTTP://Example.COM:80/x'), {
    url: 'http://example.com/x',
    origin: 'http://example.com',
    basePath: '/x',
  });
  assert.equal(Object.isFrozen(parseBackendUrl('http://h')), true);
});

test('parseBackendUrl rejects other schemes, queries, fragments, credentials and garbage', () => {
  for (const bad of [
    'ftp://x',
    'ws://x',
    'http://x/?q=1',
    'http://x/#f',
    'http://u@x/',
    'http://u:p@x/',
    'localhost:8000',
    '',
    undefined,
  ]) {
    assert.throws(() => parseBackendUrl(bad), Error, String(bad));
  }
  assert.throws(() => parseBackendUrl('ftp://x'), { message: 'expected http:// or https://, got ftp:' });
});

test('parseDurationMs reads milliseconds and units', () => {
  assert.equal(parseDurationMs('30s'), 30_000);
  assert.equal(parseDurationMs('10m'), 600_000);
  assert.equal(parseDurationMs('10min'), 600_000);
  assert.equal(parseDurationMs('2h'), 7_200_000);
  assert.equal(parseDurationMs('250ms'), 250);
  assert.equal(parseDurationMs('5000'), 5000);
  assert.equal(parseDurationMs('1.5s'), 1500);
  assert.equal(parseDurationMs(' 30 S '), 30_000);
  assert.equal(parseDurationMs('0'), 0);
  for (const bad of ['', 's', '-1', '1e3', '10x', '1,000', '.5s', 'Infinity']) {
    assert.throws(() => parseDurationMs(bad), Error, bad);
  }
});

test('parseBytes reads bytes and binary units', () => {
  assert.equal(parseBytes('512kb'), 524_288);
  assert.equal(parseBytes('32mb'), 33_554_432);
  assert.equal(parseBytes('32MiB'), 33_554_432);
  assert.equal(parseBytes('1gb'), 1_073_741_824);
  assert.equal(parseBytes('100b'), 100);
  assert.equal(parseBytes('1048576'), 1_048_576);
  assert.equal(parseBytes('1.5kb'), 1536);
  for (const bad of ['', 'kb', '-1', '1tb', '1 k', 'lots']) assert.throws(() => parseBytes(bad), Error, bad);
  assert.throws(() => parseBytes('9'.repeat(30)), /too large/);
});

test('parseInteger checks digits and range', () => {
  assert.equal(parseInteger('0', 0, 10), 0);
  assert.equal(parseInteger(' 10 ', 0, 10), 10);
  assert.equal(parseInteger('007', 0, 10), 7);
  assert.throws(() => parseInteger('11', 0, 10), { message: 'expected an integer from 0 to 10, got 11' });
  assert.throws(() => parseInteger('1.0', 0, 10), { message: 'expected an integer from 0 to 10, got "1.0"' });
  for (const bad of ['', '-1', '+1', '0x10', '1e1', 'abc']) assert.throws(() => parseInteger(bad, 0, 100), Error, bad);
});

test('parseOnOff', () => {
  for (const on of ['', 'on', 'TRUE', ' 1 ', 'yes']) assert.equal(parseOnOff(on), true, on);
  for (const off of ['off', 'FALSE', '0', 'no']) assert.equal(parseOnOff(off), false, off);
  assert.throws(() => parseOnOff('maybe'), { message: 'expected on or off, got "maybe"' });
});

test('an unknown argument with capitals is named in the message', async () => {
  assert.deepEqual(await buildConfig(['--Port', '1']), {
    kind: 'exit',
    code: 2,
    output: 'inference-proxy: Unknown argument: Port (did you mean --port?)',
  });
  assert.deepEqual(await buildConfig(['Extra']), { kind: 'exit', code: 2, output: 'inference-proxy: Unknown argument: Extra' });
});

test('--api-key-file reads one key per line, skipping blanks and comments; keys are kept only as digests', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'iproxy-keys-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'keys');
  writeFileSync(file, '# team keys\nalpha-1\n\n  beta-2  \r\nalpha-1\n');
  const config = await configOf(['--api-key-file', file, '--api-key', 'gamma-3']);
  assert.deepEqual(config.apiKeyDigests, [sha256('gamma-3'), sha256('alpha-1'), sha256('beta-2')]);
  assert.ok(!JSON.stringify(config).includes('alpha-1'));
  assertConfigExit(await buildConfig(['--api-key-file', join(dir, 'missing')]), 'api-key-file');
  writeFileSync(file, '# nothing\n\n');
  assertConfigExit(await buildConfig(['--api-key-file', file]), 'api-key-file');
  assertConfigExit(await buildConfig(['--api-key', 'has space']), 'api-key');
});

test('--max-in-flight is divided over the workers; 0 means 4,096 per worker, or twice a larger upstream pool', async () => {
  assert.equal((await configOf(['--workers', '4', '--max-in-flight', '10'])).maxInFlightPerWorker, 3);
  assert.equal((await configOf(['--workers', '2', '--upstream-connections', '50'])).maxInFlightPerWorker, 4_096);
  assert.equal((await configOf(['--workers', '2', '--upstream-connections', '4000'])).maxInFlightPerWorker, 8_000);
  assertConfigExit(await buildConfig(['--max-in-flight', '-1']), 'max-in-flight');
});
