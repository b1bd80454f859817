import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { buildConfig, type ParseResult } from '../../src/config/build-config.js';
import { ENV_PREFIX } from '../../src/config/defaults.js';
import type { Config } from '../../src/config/types.js';

/** buildConfig with no INFERENCE_PROXY_* variable set. */
async function build(argv: string[]): Promise<ParseResult> {
  const saved = { ...process.env };
  for (const name of Object.keys(process.env)) if (name.startsWith(`${ENV_PREFIX}_`)) delete process.env[name];
  try {
    return await buildConfig(argv);
  } finally {
    Object.assign(process.env, saved);
  }
}

async function configOf(argv: string[]): Promise<Config> {
  const result = await build(argv);
  if (result.kind !== 'config') assert.fail(`expected a config, got ${JSON.stringify(result)}`);
  return result.config;
}

async function exitLine(argv: string[]): Promise<string> {
  const result = await build(argv);
  if (result.kind !== 'exit') assert.fail(`expected an exit for ${JSON.stringify(argv)}`);
  assert.equal(result.code, 2);
  assert.equal(result.output.includes('\n'), false);
  return result.output;
}

function fileWith(t: TestContext, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'iproxy-admission-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'fleet.yaml');
  writeFileSync(path, text);
  return path;
}

test('engine signals and the queue: defaults, units, and each flag given', async () => {
  const defaults = await configOf([]);
  assert.deepEqual(
    [
      defaults.loadIntervalMs,
      defaults.saturationWaiting,
      defaults.saturationKv,
      defaults.queue,
      defaults.queueTimeoutMs,
      defaults.enginePriority,
    ],
    [250, 5, 0.8, true, 30_000, false],
  );
  const given = await configOf([
    ...['--load-interval', '500', '--saturation-waiting', '0', '--saturation-kv', '0.95'],
    ...['--queue', 'off', '--queue-timeout', '2s', '--engine-priority', 'on'],
  ]);
  assert.deepEqual(
    [given.loadIntervalMs, given.saturationWaiting, given.saturationKv, given.queue, given.queueTimeoutMs, given.enginePriority],
    [500, 0, 0.95, false, 2_000, true],
  );
  assert.equal((await configOf(['--load-interval', '0'])).loadIntervalMs, 0, '0 turns the reads off');
});

test('a bad value exits 2 with one line naming the flag', async () => {
  for (const [flag, value] of [
    ['load-interval', 'fast'],
    ['saturation-waiting', '-1'],
    ['saturation-waiting', '2.5'],
    ['saturation-kv', '0'],
    ['saturation-kv', '1.5'],
    ['saturation-kv', '80%'],
    ['queue', 'maybe'],
    ['queue-timeout', '0'],
    ['engine-priority', 'high'],
  ]) {
    assert.match(await exitLine([`--${flag}`, value]), new RegExp(`^inference-proxy: --${flag}: `), `${flag} ${value}`);
  }
});

test('max_concurrency per backend in the config file', async (t) => {
  const path = fileWith(
    t,
    ['backends:', '  - url: http://gpu1:8000', '    max_concurrency: 8', '  - http://gpu2:8000', 'saturation-waiting: 1', ''].join('\n'),
  );
  const config = await configOf(['--config', path]);
  assert.deepEqual(
    config.backends.map((backend) => backend.maxConcurrency),
    [8, null],
  );
  assert.equal(config.saturationWaiting, 1);
  const bad = fileWith(t, ['backends:', '  - url: http://gpu1:8000', '    max_concurrency: 0', ''].join('\n'));
  assert.equal(
    await exitLine(['--config', bad]),
    `inference-proxy: ${bad}: backends[0]: max_concurrency: expected an integer from 1 to 1000000, got 0`,
  );
});
