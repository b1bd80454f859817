import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative } from 'node:path';
import { test } from 'node:test';
import { ROOT, run } from '../../support/processes.js';
import { readRepoFile } from '../helpers/deploy-fixture.js';
import { argsOf, commandOf, envOf, type Instruction, parseDockerfile, stageName } from '../helpers/dockerfile.js';
import { chatBody, send } from '../helpers/http.js';
import { startMockBackend } from '../helpers/mock-backend.js';
import { startCluster } from '../helpers/start-proxy.js';

// npm ci of the production dependencies takes seconds from the local cache; minutes only without one.
const INSTALL_TIMEOUT_MS = 180_000;
const HELP_TIMEOUT_MS = 20_000;

/** Commands of a RUN that only clean up or install system packages: they change nothing the proxy loads. */
const SKIPPED = [/^apt-get\b/, /^rm -rf \/var\/lib\/apt\/lists/, /^npm cache clean\b/];

interface RuntimeInstall {
  readonly dir: string;
  readonly env: Record<string, string>;
  readonly cmd: string[];
}

/**
 * The Dockerfile's last stage carried out in `dir`, as docker would (without docker): COPY from the build
 * context (this checkout), COPY --from a builder stage (its WORKDIR is this checkout, already built), the
 * `npm ci` of every RUN (offline-friendly: from the local npm cache when it has the packages), ENV. A RUN
 * command this does not know fails the test, so a new step in the Dockerfile cannot be skipped unseen.
 */
async function installRuntime(dir: string): Promise<RuntimeInstall> {
  const { stages } = parseDockerfile(readRepoFile('Dockerfile'));
  const runtime = stages.at(-1) as Instruction[];
  const builderDirs = new Map(stages.slice(0, -1).map((stage) => [stageName(stage), argsOf(stage, 'WORKDIR').at(-1) ?? '/']));
  const env: Record<string, string> = {};
  for (const { keyword, args } of runtime) {
    if (keyword === 'COPY') {
      const words = args.split(/\s+/);
      const from = words.find((word) => word.startsWith('--from='))?.slice('--from='.length);
      const paths = words.filter((word) => !word.startsWith('--'));
      const target = join(dir, paths.at(-1) as string);
      for (const source of paths.slice(0, -1)) {
        let local = source;
        if (from !== undefined) {
          const workdir = builderDirs.get(from);
          assert.ok(workdir !== undefined, `COPY --from=${from}: a builder stage`);
          local = isAbsolute(source) ? relative(workdir, source) : source;
        }
        const into = target.endsWith('/') ? join(target, local.split('/').at(-1) as string) : target;
        await cp(join(ROOT, local), into, { recursive: true });
      }
    } else if (keyword === 'RUN') {
      for (const command of args.split('&&').map((part) => part.trim())) {
        if (SKIPPED.some((pattern) => pattern.test(command))) continue;
        assert.match(command, /^npm ci\b/, `a RUN command this test knows how to carry out: ${command}`);
        const npmArgs = [...command.split(/\s+/).slice(1), '--prefer-offline'];
        const installed = await run('npm', npmArgs, env, INSTALL_TIMEOUT_MS, undefined, dir);
        assert.equal(installed.code, 0, `npm ${npmArgs.join(' ')}: ${installed.stderr}`);
      }
    } else if (keyword === 'ENV') Object.assign(env, envOf(args));
  }
  const cmd = commandOf(argsOf(runtime, 'CMD').at(-1) ?? '[]');
  assert.equal(cmd[0], 'node', `CMD runs node: ${cmd.join(' ')}`);
  return { dir, env, cmd };
}

test('the runtime install the Dockerfile makes (production dependencies only) starts, reads a YAML config and proxies', {
  timeout: INSTALL_TIMEOUT_MS + 60_000,
}, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'iproxy-runtime-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const install = await installRuntime(dir);
  const main = join(dir, install.cmd[1] as string);

  const help = await run(process.execPath, [main, '--help'], install.env, HELP_TIMEOUT_MS, undefined, dir);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /--backend-url/);

  // A YAML file: the format operators write, read by a runtime dependency.
  const backend = await startMockBackend(t);
  const config = join(dir, 'fleet.yaml');
  await writeFile(config, `routing: round-robin\nbackends:\n  - url: ${backend.url}\n`);
  const proxy = await startCluster(t, ['--config', config, '--workers', '1'], install.env, { main, cwd: dir });
  const chat = await send(`${proxy.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: chatBody(),
  });
  assert.equal(chat.status, 200, chat.text);
  assert.equal((JSON.parse(chat.text) as { object: string }).object, 'chat.completion');
  assert.equal(backend.stats.completionRequests, 1);
});
