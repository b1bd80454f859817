import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FLAGS } from '../../src/config/flags.js';
import { runCli } from '../helpers/start-proxy.js';

test('--help lists every flag with its default and the environment prefix, and exits 0', async () => {
  const { code, stdout } = await runCli(['--help']);
  assert.equal(code, 0);
  for (const [flag, spec] of Object.entries(FLAGS)) if (!('hidden' in spec)) assert.match(stdout, new RegExp(`--${flag}\\b`));
  assert.match(stdout, /INFERENCE_PROXY_BACKEND_URL/);
  assert.match(stdout, /default: "http:\/\/localhost:8000"/);
  assert.match(stdout, /ms/);
});

test('an invalid flag value exits 2 with one line naming the flag', async () => {
  for (const [args, flag] of [
    [['--port', '70000'], '--port'],
    [['--backend-url', 'ftp://x'], '--backend-url'],
    [['--body-limit', 'lots'], '--body-limit'],
    [['--headers-timeout', '-5'], '--headers-timeout'],
  ] as const) {
    const { code, stdout, stderr } = await runCli([...args]);
    assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
    assert.equal(stdout, '');
    const lines = stderr.trim().split('\n');
    assert.equal(lines.length, 1, stderr);
    assert.ok(lines[0]?.startsWith(`inference-proxy: ${flag}: `), stderr);
  }
});

test('an unknown flag exits 2 with one line', async () => {
  const { code, stderr } = await runCli(['--bogus-flag', '1']);
  assert.equal(code, 2);
  assert.equal(stderr.trim().split('\n').length, 1, stderr);
  assert.match(stderr, /bogus-flag/);
});

test('flags are read from INFERENCE_PROXY_* environment variables; a bad value names the variable', async () => {
  const { code, stderr } = await runCli([], { INFERENCE_PROXY_WORKERS: 'many' });
  assert.equal(code, 2);
  assert.match(stderr, /^inference-proxy: INFERENCE_PROXY_WORKERS: /);
});

test('startup problems a new operator hits are one line and exit 2, naming the flag or the variable', async () => {
  for (const [args, env, line] of [
    [['--dns-server', 'nohost'], {}, /^inference-proxy: --dns-server: expected an IP address/],
    [
      [],
      { INFERENCE_PROXY_BACKEND_URLS: 'http://gpu1:8000' },
      /^inference-proxy: Unknown argument: INFERENCE_PROXY_BACKEND_URLS \(no such flag; did you mean INFERENCE_PROXY_BACKEND_URL\?\)$/,
    ],
  ] as const) {
    const { code, stdout, stderr } = await runCli([...args], env);
    assert.equal(code, 2, stderr);
    assert.equal(stdout, '');
    assert.equal(stderr.trim().split('\n').length, 1, stderr);
    assert.match(stderr.trim(), line);
  }
});

test('--check-config validates flags, environment, file and host names without starting: exit 0 with the verdict, or 2 with one line', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'iproxy-check-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'fleet.yaml');
  writeFileSync(file, 'workers: 3\nbackends:\n  - url: http://gpu1:8000\n  - url: http://gpu2:8000\n    models: []\n');
  const good = await runCli(['--check-config', '--config', file, '--port', '9100', '--host', '127.0.0.1'], {
    INFERENCE_PROXY_METRICS_PORT: '9101',
  });
  assert.equal(good.code, 0, good.stderr);
  assert.equal(
    good.stdout,
    'inference-proxy: configuration OK: listen 127.0.0.1:9100, 3 workers, metrics on 127.0.0.1:9101, 2 backends: http://gpu1:8000, http://gpu2:8000\n',
  );
  assert.match(good.stderr, /^inference-proxy: warning: .*backend http:\/\/gpu2:8000: models: \[\] lists no model/);
  for (const [args, env, line] of [
    [['--config', file, '--retries', '99'], {}, /^inference-proxy: --retries: /],
    [['--config', file], { INFERENCE_PROXY_ROUTING: 'fastest' }, /^inference-proxy: INFERENCE_PROXY_ROUTING: /],
    [
      ['--config', file, '--host', 'no-such-host.invalid'],
      {},
      /^inference-proxy: --host: cannot resolve "no-such-host.invalid" \(ENOTFOUND\)$/,
    ],
    [
      ['--config', file, '--metrics-port', '0', '--metrics-host', 'no-such-host.invalid'],
      {},
      /^inference-proxy: --metrics-host: cannot resolve/,
    ],
  ] as const) {
    const bad = await runCli(['--check-config', ...args], env);
    assert.equal(bad.code, 2, bad.stderr);
    assert.equal(bad.stdout, '');
    assert.match(bad.stderr.trim().split('\n').at(-1) as string, line);
    assert.equal(
      bad.stderr
        .trim()
        .split('\n')
        .filter((l) => !l.includes('warning:')).length,
      1,
      bad.stderr,
    );
  }
  // From the environment it would turn every start into a check: refused.
  const fromEnv = await runCli([], { INFERENCE_PROXY_CHECK_CONFIG: 'true' });
  assert.equal(fromEnv.code, 2);
  assert.equal(fromEnv.stderr, 'inference-proxy: INFERENCE_PROXY_CHECK_CONFIG: --check-config is a command-line flag only\n');
});
