import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { eventually } from '../../support/wait.js';
import { CHAT, chat, postChat, startClientLoad, startMocks } from '../helpers/fleet.js';
import { call, send } from '../helpers/http.js';
import { type RunningProxy, startProxy } from '../helpers/start-proxy.js';

const TEST = { timeout: 90_000 };
const JSON_HEADERS = { 'content-type': 'application/json' };

function configFile(t: TestContext): { path: string; write(text: string): void } {
  const dir = mkdtempSync(join(tmpdir(), 'iproxy-reload-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'fleet.yaml');
  return { path, write: (text) => writeFileSync(path, text) };
}

const fleetYaml = (urls: string[]): string => `routing: round-robin\nbackends:\n${urls.map((url) => `  - url: ${url}\n`).join('')}`;

async function startWithConfig(t: TestContext, path: string): Promise<RunningProxy> {
  const proxy = await startProxy(['--config', path, '--workers', '2', '--drain-timeout', '20s']);
  t.after(() => proxy.stop());
  return proxy;
}

const backendsOf = async (proxy: RunningProxy): Promise<string[]> =>
  (JSON.parse((await send(`${proxy.url}/healthz`)).text) as { backends: Array<{ url: string }> }).backends.map((b) => b.url);

test(
  'SIGHUP re-reads the file under load: the added backend gets traffic, the removed one none, its stream runs to the end, nothing fails',
  TEST,
  async (t) => {
    const [a, b, c] = await startMocks(t, [{ tokenDelayMs: 20 }, {}, {}]);
    const file = configFile(t);
    file.write(fleetYaml([a!.url, b!.url]));
    const proxy = await startWithConfig(t, file.path);
    // A long stream on `a` (the first round-robin pick of a worker), which must finish after `a` is removed.
    const long = call(`${proxy.url}${CHAT}`, { method: 'POST', headers: JSON_HEADERS, body: chat({ stream: true, max_tokens: 60 }) });
    await eventually(
      'the stream on a',
      () => a!.stats.completionRequests,
      (n) => n === 1,
    );
    const load = await startClientLoad(proxy.url);
    const statuses = load.statuses;
    file.write(fleetYaml([b!.url, c!.url]));
    proxy.child.kill('SIGHUP');
    await proxy.waitForLine((line) => line.msg === 'rolling restart finished', 30_000);
    assert.deepEqual(await backendsOf(proxy), [b!.url, c!.url]);
    const aAfterReload = a!.stats.completionRequests;
    const cAfterReload = c!.stats.completionRequests;
    const sentAfterReload = statuses.length;
    await eventually(
      'load after the reload',
      () => statuses.length,
      (n) => n >= sentAfterReload + 40,
    );
    await load.stop();
    assert.deepEqual([...new Set(statuses)], [200], 'zero failed client requests');
    assert.equal(a!.stats.completionRequests, aAfterReload, 'the removed backend gets no new requests');
    assert.ok(c!.stats.completionRequests > cAfterReload, 'the added backend gets traffic');
    const stream = await long;
    assert.equal(stream.error, null, 'it ended cleanly');
    assert.ok(stream.text.endsWith('data: [DONE]\n\n'), 'the stream on the removed backend ran to completion');
    assert.ok(proxy.lines.some((line) => line.msg === 'backend removed' && line.backend === a!.url));
    assert.ok(proxy.lines.some((line) => line.msg === 'backend added' && line.backend === c!.url));
  },
);

test('a reload with an invalid file keeps the running configuration and logs one error line naming the problem', TEST, async (t) => {
  const [a, b] = await startMocks(t, [{}, {}]);
  const file = configFile(t);
  file.write(fleetYaml([a!.url, b!.url]));
  const proxy = await startWithConfig(t, file.path);
  // A bad key, bad YAML, and files that name no backends: truncated to 0 bytes (a deploy tool mid-write),
  // comments only, flags only. None of them may put the default backend (localhost:8000) in force.
  const brokenFiles = ['backends:\n  - url: http://x:1\n    wieght: 2\n', 'backends: [\n', '', '# fleet\n', 'routing: random\n'];
  for (const broken of brokenFiles) {
    const before = proxy.lines.length;
    file.write(broken);
    proxy.child.kill('SIGHUP');
    const failed = await proxy.waitForLine(
      (line) => line.msg === 'configuration reload failed, keeping the running configuration' && proxy.lines.indexOf(line) >= before,
    );
    assert.ok(String(failed.problem).startsWith(`${file.path}: `), String(failed.problem));
    assert.equal(failed.level, 'error');
    assert.deepEqual(await backendsOf(proxy), [a!.url, b!.url]);
    for (let i = 0; i < 4; i++) assert.equal((await postChat(proxy.url)).status, 200);
  }
  const problems = proxy.lines.filter((line) => line.msg?.startsWith('configuration reload failed')).map((line) => String(line.problem));
  assert.equal(problems.length, brokenFiles.length);
  assert.match(problems[0] as string, /unknown key "wieght"/);
  for (const problem of problems.slice(2)) assert.match(problem, /: no backends: list them under backends:/);
  assert.equal(
    proxy.lines.some((line) => line.msg === 'rolling restart started'),
    false,
    'the workers keep running as they were',
  );
});
