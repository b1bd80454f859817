import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { buildConfig, type ParseResult } from '../../src/config/build-config.js';
import { ENV_PREFIX } from '../../src/config/defaults.js';
import type { Config } from '../../src/config/types.js';

/** Runs buildConfig with exactly `env` as the INFERENCE_PROXY_* variables, and restores the environment. */
async function build(argv: string[], env: Record<string, string> = {}): Promise<ParseResult> {
  const saved = { ...process.env };
  for (const name of Object.keys(process.env)) if (name.startsWith(`${ENV_PREFIX}_`)) delete process.env[name];
  Object.assign(process.env, env);
  try {
    return await buildConfig(argv);
  } finally {
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    Object.assign(process.env, saved);
  }
}

async function configOf(argv: string[], env: Record<string, string> = {}): Promise<Config> {
  const result = await build(argv, env);
  if (result.kind !== 'config') assert.fail(`expected a config, got ${JSON.stringify(result)}`);
  return result.config;
}

async function exitLine(argv: string[], env: Record<string, string> = {}): Promise<string> {
  const result = await build(argv, env);
  if (result.kind !== 'exit') assert.fail(`expected an exit, got a config for ${JSON.stringify(argv)}`);
  assert.equal(result.code, 2);
  assert.equal(result.output.includes('\n'), false, `one line: ${JSON.stringify(result.output)}`);
  return result.output;
}

function fileWith(t: TestContext, name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'iproxy-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const urls = (config: Config): string[] => config.backends.map((backend) => backend.url);

test('--backend-url repeats, and each value may be a comma-separated list', async () => {
  const config = await configOf(['--backend-url', 'http://gpu1:8000', '--backend-url', 'http://gpu2:8000, http://gpu3:8000/v']);
  assert.deepEqual(urls(config), ['http://gpu1:8000', 'http://gpu2:8000', 'http://gpu3:8000/v']);
  assert.deepEqual(
    config.backends.map(({ weight, models }) => ({ weight, models })),
    [1, 2, 3].map(() => ({ weight: 1, models: null })),
  );
});

test('INFERENCE_PROXY_BACKEND_URL takes a comma-separated list; the command line replaces it', async () => {
  const env = { INFERENCE_PROXY_BACKEND_URL: 'http://a:1,http://b:2' };
  assert.deepEqual(urls(await configOf([], env)), ['http://a:1', 'http://b:2']);
  assert.deepEqual(urls(await configOf(['--backend-url', 'http://c:3'], env)), ['http://c:3']);
});

test('a duplicate backend exits 2 with one line that says duplicate and names the URL', async () => {
  assert.equal(
    await exitLine(['--backend-url', 'http://gpu1:8000,http://GPU1:8000/']),
    'inference-proxy: --backend-url: duplicate backend http://gpu1:8000',
  );
  assert.equal(await exitLine(['--backend-url', ' , ']), 'inference-proxy: --backend-url: expected at least one backend URL');
});

test('a YAML file sets any flag by name and the backends with weights and models', async (t) => {
  const path = fileWith(
    t,
    'fleet.yaml',
    [
      'routing: round-robin',
      'health-interval: 5s',
      'retries: 1',
      'access-log: off',
      'api-key: [key-a, key-b]',
      'backends:',
      '  - url: http://gpu1:8000',
      '    weight: 3',
      '    models: [llama-3-70b, llama-3-8b]',
      '  - http://gpu2:8000',
      '  - { url: "http://gpu3:8000/base/" }',
    ].join('\n'),
  );
  const config = await configOf(['--config', path]);
  assert.equal(config.routing, 'round-robin');
  assert.equal(config.healthIntervalMs, 5_000);
  assert.equal(config.retries, 1);
  assert.equal(config.accessLog, false);
  assert.equal(config.apiKeyDigests.length, 2);
  assert.deepEqual(config.backends, [
    {
      url: 'http://gpu1:8000',
      origin: 'http://gpu1:8000',
      basePath: '',
      weight: 3,
      models: ['llama-3-70b', 'llama-3-8b'],
      maxConcurrency: null,
    },
    { url: 'http://gpu2:8000', origin: 'http://gpu2:8000', basePath: '', weight: 1, models: null, maxConcurrency: null },
    { url: 'http://gpu3:8000/base', origin: 'http://gpu3:8000', basePath: '/base', weight: 1, models: null, maxConcurrency: null },
  ]);
  assert.equal(Object.isFrozen(config.backends[0]?.models), true);
});

test('a JSON file works the same way', async (t) => {
  const path = fileWith(
    t,
    'fleet.json',
    JSON.stringify({ port: 9100, 'unknown-model': 'pass', backends: [{ url: 'http://a:1', weight: 2 }, 'http://b:2'] }),
  );
  const config = await configOf(['--config', path]);
  assert.equal(config.port, 9100);
  assert.equal(config.unknownModel, 'pass');
  assert.deepEqual(
    config.backends.map(({ url, weight }) => [url, weight]),
    [
      ['http://a:1', 2],
      ['http://b:2', 1],
    ],
  );
});

test('precedence: command line, then environment, then file, then defaults', async (t) => {
  const path = fileWith(t, 'p.yml', 'port: 7001\nretries: 3\nslow-start: 20s\nbackends: [http://file:1]\n');
  const env = { INFERENCE_PROXY_PORT: '7002', INFERENCE_PROXY_RETRIES: '4' };
  const config = await configOf(['--config', path, '--port', '7003'], env);
  assert.equal(config.port, 7003, 'command line over environment and file');
  assert.equal(config.retries, 4, 'environment over file');
  assert.equal(config.slowStartMs, 20_000, 'file over default');
  assert.equal(config.healthTimeoutMs, 2_000, 'default when nobody says');
  assert.deepEqual(urls(config), ['http://file:1']);
  assert.deepEqual(urls(await configOf(['--config', path, '--backend-url', 'http://cli:1'])), ['http://cli:1']);
  assert.deepEqual(urls(await configOf(['--config', path], { INFERENCE_PROXY_BACKEND_URL: 'http://env:1,http://env:2' })), [
    'http://env:1',
    'http://env:2',
  ]);
  // The file may also be named by the environment.
  assert.equal((await configOf([], { INFERENCE_PROXY_CONFIG: path })).port, 7001);
});

test('an unknown key exits 2 naming the key and the file', async (t) => {
  const path = fileWith(t, 'typo.yaml', 'helth-interval: 5s\n');
  assert.equal(
    await exitLine(['--config', path]),
    `inference-proxy: ${path}: unknown key "helth-interval" (keys are flag names, see --help)`,
  );
  const nested = fileWith(t, 'nested.yaml', 'backends:\n  - url: http://a:1\n    wieght: 2\n');
  assert.equal(await exitLine(['--config', nested]), `inference-proxy: ${nested}: backends[0]: unknown key "wieght"`);
  const config = fileWith(t, 'self.yaml', 'config: other.yaml\n');
  assert.match(await exitLine(['--config', config]), /unknown key "config"/);
});

test('a duplicate backend in the file exits 2 naming it', async (t) => {
  const path = fileWith(t, 'dup.yaml', 'backends:\n  - http://gpu1:8000\n  - url: http://gpu1:8000/\n    weight: 2\n');
  assert.equal(await exitLine(['--config', path]), `inference-proxy: ${path}: duplicate backend http://gpu1:8000`);
});

test('bad values in the file name the file and the key', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['health-interval: soon\n', /: health-interval: expected a duration/],
    ['routing: fastest\n', /: routing: expected least-load, random, round-robin, prefix, session, got "fastest"/],
    ['backends:\n  - url: http://a:1\n    weight: 0\n', /: backends\[0\]: weight: expected an integer from 1 to 1000, got 0/],
    ['backends:\n  - url: ftp://a\n', /: backends\[0\]: url: expected http:\/\/ or https:\/\/, got ftp:/],
    ['backends:\n  - url: http://a:1\n    models: llama\n', /: backends\[0\]: models: expected a list of model names/],
    ['backends: []\n', /: expected a non-empty list of backends/],
    ['port: [1, 2]\n', /: port: expected a single value, got a list/],
    ['backends: [http://a:1]\nbackend-url: http://b:1\n', /: give either backends: or backend-url:, not both/],
    ['- just\n- a list\n', /: expected a mapping of flag names to values/],
    ['port: 1\n  bad indent: [\n', /: not valid YAML/],
  ];
  for (const [text, pattern] of cases) {
    const path = fileWith(t, 'bad.yaml', text);
    const line = await exitLine(['--config', path]);
    assert.ok(line.startsWith(`inference-proxy: ${path}: `), line);
    assert.match(line, pattern);
  }
  // A value given on the command line is blamed on the command line, not on the file.
  const path = fileWith(t, 'ok.yaml', 'retries: 1\n');
  assert.match(await exitLine(['--config', path, '--retries', '99']), /^inference-proxy: --retries: /);
});

test('a file that names no backends exits 2 unless --backend-url gives them: the default backend never stands in', async (t) => {
  for (const [name, text] of [
    ['empty.yaml', ''],
    ['comments.yaml', '# fleet, being rewritten\n\n'],
    ['flags-only.yaml', 'routing: round-robin\n'],
    ['empty.json', '{}'],
  ] as const) {
    const path = fileWith(t, name, text);
    assert.equal(
      await exitLine(['--config', path]),
      `inference-proxy: ${path}: no backends: list them under backends: (or backend-url:) in the file, or give --backend-url`,
    );
    // The command line or the environment still gives a fleet, with the file's other settings.
    assert.deepEqual(urls(await configOf(['--config', path, '--backend-url', 'http://gpu1:8000'])), ['http://gpu1:8000']);
    assert.deepEqual(urls(await configOf(['--config', path], { INFERENCE_PROXY_BACKEND_URL: 'http://gpu2:8000' })), ['http://gpu2:8000']);
  }
  const single = fileWith(t, 'one.yaml', 'backend-url: http://gpu3:8000\n');
  assert.deepEqual(urls(await configOf(['--config', single])), ['http://gpu3:8000']);
  // Without a file the documented default applies, as before.
  assert.deepEqual(urls(await configOf([])), ['http://localhost:8000']);
});

test('a backend with models: [] is accepted with a warning: no request that names a model would reach it', async (t) => {
  const path = fileWith(
    t,
    'fleet.yaml',
    'backends:\n  - url: http://gpu1:8000\n    models: []\n  - url: http://gpu2:8000\n    models: [llama]\n',
  );
  const result = await build(['--config', path]);
  assert.equal(result.kind, 'config');
  if (result.kind !== 'config') return;
  assert.deepEqual(result.warnings, [
    `${path}: backend http://gpu1:8000: models: [] lists no model, so no request that names a model goes to it (leave models: out to read its GET /v1/models)`,
  ]);
  assert.deepEqual(result.config.backends[0]?.models, []);
  const fine = await build(['--config', fileWith(t, 'ok.yaml', 'backends:\n  - url: http://gpu1:8000\n')]);
  assert.deepEqual(fine.kind === 'config' && fine.warnings, []);
});

test('a missing or wrongly named file exits 2', async (t) => {
  const missing = join(tmpdir(), 'no-such-dir-iproxy', 'fleet.yaml');
  assert.equal(await exitLine(['--config', missing]), `inference-proxy: ${missing}: cannot read it (ENOENT)`);
  const toml = fileWith(t, 'fleet.toml', 'port = 1\n');
  assert.equal(await exitLine(['--config', toml]), `inference-proxy: ${toml}: expected a .yaml, .yml or .json file`);
});

test('keys: named keys with models and limits; their keys stay digests, a plain key gives a warning', async (t) => {
  const path = fileWith(
    t,
    'keys.yaml',
    [
      'redis-url: redis://127.0.0.1:6379',
      'backend-url: http://gpu1:8000',
      'keys:',
      '  - name: team-a',
      '    key_env: TEAM_A_KEY',
      '    models: [llama-*]',
      '    tpm: {tokens: 6000, per: 10s}',
      '    budget: {tokens: 1000000, per: month}',
      '  - name: ops',
      '    key: plain-ops-key',
      '    admin: true',
      '',
    ].join('\n'),
  );
  const saved = process.env.TEAM_A_KEY;
  process.env.TEAM_A_KEY = 'team-a-secret';
  t.after(() => {
    if (saved === undefined) delete process.env.TEAM_A_KEY;
    else process.env.TEAM_A_KEY = saved;
  });
  const config = await configOf(['--config', path]);
  const sha = (text: string): string => createHash('sha256').update(text).digest('hex');
  assert.deepEqual(
    config.keys.map((key) => [key.name, key.digest, key.models, key.admin]),
    [
      ['team-a', sha('team-a-secret'), ['llama-*'], false],
      ['ops', sha('plain-ops-key'), null, true],
    ],
  );
  assert.deepEqual(config.keys[0]?.limits.tokens, { amount: 6000, perMs: 10_000 });
  assert.equal(config.redisUrl, 'redis://127.0.0.1:6379');
  assert.equal(JSON.stringify(config).includes('team-a-secret'), false, 'the key itself is nowhere in the config');
  assert.equal(JSON.stringify(config).includes('plain-ops-key'), false);
  assert.deepEqual(config.keyWarnings, ['keys[1] (ops): the key is written in clear in the config file; prefer key_sha256 or key_env']);
  const bad = fileWith(t, 'bad-keys.yaml', 'backend-url: http://gpu1:8000\nkeys:\n  - name: team-a\n    key_env: NOT_SET_FOR_THIS_TEST\n');
  assert.equal(
    await exitLine(['--config', bad]),
    `inference-proxy: ${bad}: keys[0] (team-a): key_env: the environment variable NOT_SET_FOR_THIS_TEST is not set`,
  );
});
