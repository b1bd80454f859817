import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FLAGS } from '../../src/config/flags.js';
import { runCli } from '../helpers/start-proxy.js';

test('--help lists every flag with its default and the environment prefix, and exits 0', async () => {
  const { code, stdout } = await runCli(['--help']);
  assert.equal(code, 0);
  for (const flag of Object.keys(FLAGS)) assert.match(stdout, new RegExp(`--${flag}\\b`));
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
