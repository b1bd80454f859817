import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import type { TestContext } from 'node:test';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { isAlive, ROOT, waitGone } from '../../support/processes.js';
import { eventually } from '../../support/wait.js';
import { chatBody, send } from '../helpers/http.js';

const DEMO = fileURLToPath(new URL('../../src/demo.js', import.meta.url));
const TEST = { timeout: 90_000 };
const STEP_TIMEOUT_MS = 30_000;
const BACKEND_LINE = /^ {2}(\d)\. (http:\/\/\S+) {3}models: (\S+) {3}pid (\d+)$/gm;

interface Demo {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  output(): string;
  errors(): string;
}

interface ListedBackend {
  readonly url: string;
  readonly models: string;
  readonly pid: number;
}

/** Runs `node dist/src/demo.js <args>` from the repository root, as `npm run demo -- <args>` does. */
function runDemo(t: TestContext, args: string[]): Demo {
  const child = spawn(process.execPath, [DEMO, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const demo = { child, exited, output: collect(child.stdout), errors: collect(child.stderr) };
  t.after(async () => {
    // Only if the test failed half-way: the demo and every backend it listed must not outlive the test.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const backend of listedBackends(demo)) if (await isAlive(backend.pid)) process.kill(backend.pid, 'SIGKILL');
  });
  return demo;
}

/** Everything the stream has delivered so far, as text. */
function collect(stream: Readable): () => string {
  let text = '';
  stream.setEncoding('utf8').on('data', (chunk: string) => {
    text += chunk;
  });
  return () => text;
}

function listedBackends(demo: Demo): ListedBackend[] {
  return [...demo.output().matchAll(BACKEND_LINE)].map((m) => ({ url: m[2] as string, models: m[3] as string, pid: Number(m[4]) }));
}

function waitForOutput(demo: Demo, pattern: RegExp): Promise<RegExpMatchArray> {
  return eventually(
    `demo output ${pattern}`,
    () => demo.output().match(pattern) ?? demo.child.exitCode ?? false,
    (found) => found !== false,
    {
      timeoutMs: STEP_TIMEOUT_MS,
    },
  ).then((found) => {
    if (typeof found === 'number') assert.fail(`the demo exited (${found}) before ${pattern}: ${demo.errors()}`);
    return found as RegExpMatchArray;
  });
}

async function exitCode(demo: Demo): Promise<number | null> {
  const code = await Promise.race([demo.exited, sleep(STEP_TIMEOUT_MS, 'still running' as const, { ref: false })]);
  if (code === 'still running') assert.fail(`the demo did not exit within ${STEP_TIMEOUT_MS} ms`);
  return code;
}

test('npm run demo: one backend and the proxy; a completion through it; Ctrl-C stops both', TEST, async (t) => {
  const demo = runDemo(t, ['--host', '127.0.0.1', '--port', '0', '--workers', '1']);
  const ready = await waitForOutput(demo, /"port":(\d+),"workers":1,.*"msg":"proxy ready"/);
  const [backend] = listedBackends(demo);
  assert.ok(backend, demo.output());
  assert.equal(listedBackends(demo).length, 1);
  assert.equal(backend.models, 'mock-model');
  assert.match(demo.output(), /^Simulated backend:$/m);
  assert.match(demo.output(), new RegExp(`^ {5}stop: {4}kill ${backend.pid}$`, 'm'));
  const port = new URL(backend.url).port;
  assert.match(demo.output(), new RegExp(`^ {5}restart: node dist/src/mock-backend/main\\.js --port ${port} --models mock-model `, 'm'));
  assert.match(
    demo.output(),
    new RegExp(`^Proxy: node dist/src/main\\.js --backend-url ${backend.url} --host 127\\.0\\.0\\.1 --port 0 --workers 1$`, 'm'),
  );
  // Printed just after the ready line reaches the demo: wait for it, do not race it.
  await waitForOutput(demo, /^Ctrl-C stops everything\.$/m);

  const answer = await send(`http://127.0.0.1:${ready[1]}/inference/v1/chat/completions`, {
    body: chatBody(),
    headers: { 'content-type': 'application/json' },
  });
  assert.equal(answer.status, 200, answer.text);
  assert.equal(JSON.parse(answer.text).choices[0].message.content, ' tok0 tok1 tok2 tok3');

  demo.child.kill('SIGINT');
  assert.equal(await exitCode(demo), 0);
  assert.deepEqual(await waitGone([backend.pid], STEP_TIMEOUT_MS), []);
});

test(
  'npm run demo -- --backends 3: three backend processes, one with another model, every URL on the proxy command line',
  TEST,
  async (t) => {
    const demo = runDemo(t, ['--backends', '3', '--host', '127.0.0.1', '--port', '0', '--workers', '1']);
    const proxyLine = (await waitForOutput(demo, /^Proxy: node .*$/m))[0];
    const fleet = listedBackends(demo);
    assert.deepEqual(
      fleet.map((backend) => backend.models),
      ['mock-model', 'mock-model', 'mock-model,mock-model-b'],
    );
    assert.equal(new Set(fleet.map((backend) => backend.pid)).size, 3, 'each backend is its own process');
    assert.equal(new Set(fleet.map((backend) => backend.url)).size, 3);
    assert.match(demo.output(), /^3 simulated backends, each its own process:$/m);
    const urls = fleet.map((backend) => `--backend-url ${backend.url}`).join(' ');
    assert.equal(proxyLine, `Proxy: node dist/src/main.js ${urls} --host 127.0.0.1 --port 0 --workers 1`);
    for (const backend of fleet) {
      assert.match(
        demo.output(),
        new RegExp(`restart: node dist/src/mock-backend/main\\.js --port ${new URL(backend.url).port} --models ${backend.models} `),
      );
    }

    // The proxy takes every backend (--backend-url repeated) and is ready; Ctrl-C stops it all.
    const ready = await waitForOutput(demo, /^.*"msg":"proxy ready".*$/m);
    assert.deepEqual(
      (JSON.parse(ready[0]) as { backends: string[] }).backends,
      fleet.map((backend) => backend.url),
    );
    demo.child.kill('SIGINT');
    assert.equal(await exitCode(demo), 0);
    assert.deepEqual(
      await waitGone(
        fleet.map((backend) => backend.pid),
        STEP_TIMEOUT_MS,
      ),
      [],
    );
  },
);

test('npm run demo -- --backends 0 exits 2 with one line', TEST, async (t) => {
  const demo = runDemo(t, ['--backends', '0']);
  assert.equal(await exitCode(demo), 2);
  assert.equal(demo.errors(), 'demo: --backends must be a whole number from 1 to 9\n');
  assert.equal(demo.output(), '');
});
