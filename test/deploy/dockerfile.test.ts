import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ENV_PREFIX } from '../../src/config/defaults.js';
import { FLAGS } from '../../src/config/flags.js';
import { freePort } from '../../support/ports.js';
import { ROOT, run } from '../../support/processes.js';
import { eventually } from '../../support/wait.js';
import { flagOfEnv, readRepoFile, servedProxy } from '../helpers/deploy-fixture.js';
import { argsOf, baseImageOf, commandOf, envOf, type Instruction, parseDockerfile, stageName } from '../helpers/dockerfile.js';
import { send } from '../helpers/http.js';
import { startCluster } from '../helpers/start-proxy.js';

const TEST_TIMEOUT_MS = 60_000;
const HEALTHCHECK_TIMEOUT_MS = 15_000;
const DEFAULT_PORT = Number(FLAGS.port.default);
/** The Node the image runs: the active LTS (Node 20 reached its end of life in April 2026). */
const PRODUCTION_NODE_MAJOR = 24;

async function exitCode(argv: string[], env: Record<string, string>): Promise<number | null> {
  const [file, ...args] = argv;
  return (await run(file === 'node' ? process.execPath : (file as string), args, env, HEALTHCHECK_TIMEOUT_MS)).code;
}

test('the Dockerfile: multi-stage, non-root, production deps, tini, ports, CMD, and a HEALTHCHECK that works', {
  timeout: TEST_TIMEOUT_MS,
}, async (t) => {
  const { stages, globalArgs, comments } = parseDockerfile(readRepoFile('Dockerfile'));
  assert.ok(stages.length >= 2, 'multi-stage (at least two FROM)');
  // Every stage on the production Node, the major that .ci/run pins for its second run (issue 13).
  const ciNode = /^NODE24_VERSION=(\d+)\.\d+\.\d+$/m.exec(readRepoFile('.ci/run'))?.[1];
  assert.equal(ciNode, String(PRODUCTION_NODE_MAJOR), '.ci/run tests on the production Node');
  for (const stage of stages) {
    const image = baseImageOf(stage, globalArgs);
    assert.match(image, new RegExp(`^node:${PRODUCTION_NODE_MAJOR}-bookworm-slim$`), `stage ${stage[0]?.args}`);
  }
  const runtime = stages[stages.length - 1] as Instruction[];
  const builders = stages.slice(0, -1);
  const builderNames = builders.map(stageName).filter((name) => name !== null);
  assert.ok(
    builders.some(
      (stage) =>
        argsOf(stage, 'RUN').some((run) => /\bnpm ci\b/.test(run)) && argsOf(stage, 'RUN').some((run) => /npm run build|\btsc\b/.test(run)),
    ),
    'a builder stage installs with npm ci and builds',
  );
  assert.ok(
    argsOf(runtime, 'COPY').some((copy) => builderNames.some((name) => copy.includes(`--from=${name}`)) && copy.includes('dist')),
    'the runtime copies dist/ from the builder',
  );
  assert.ok(
    argsOf(runtime, 'RUN').some((run) => /\bnpm ci\b/.test(run) && run.includes('--omit=dev')),
    'the runtime installs production dependencies only',
  );
  const user = argsOf(runtime, 'USER').at(-1);
  assert.ok(user && !/^(root|0)(:|$)/.test(user), `a non-root USER, got ${user}`);

  const entrypoint = argsOf(runtime, 'ENTRYPOINT').at(-1);
  const usesTini = entrypoint !== undefined && commandOf(entrypoint).some((part) => part.includes('tini'));
  assert.ok(usesTini || comments.includes('--init'), 'tini as PID 1, or docker run --init documented');
  if (usesTini)
    assert.ok(
      argsOf(runtime, 'RUN').some((run) => /apt-get install .*\btini\b/.test(run)),
      'tini is installed',
    );

  const exposed = argsOf(runtime, 'EXPOSE')
    .flatMap((ports) => ports.split(/\s+/))
    .map((port) => Number(port.split('/')[0]));
  assert.ok(exposed.includes(DEFAULT_PORT), `EXPOSE ${DEFAULT_PORT}`);
  const env = Object.assign({}, ...argsOf(runtime, 'ENV').map(envOf)) as Record<string, string>;
  for (const name of Object.keys(env).filter((n) => n.startsWith(`${ENV_PREFIX}_`)))
    assert.ok(flagOfEnv(name) in FLAGS, `${name} is a flag`);
  assert.equal(Number(env[`${ENV_PREFIX}_PORT`] ?? DEFAULT_PORT), DEFAULT_PORT);

  const cmd = commandOf(argsOf(runtime, 'CMD').at(-1) ?? '[]');
  assert.deepEqual(cmd, ['node', 'dist/src/main.js']);
  assert.ok(existsSync(join(ROOT, 'dist/src/main.js')), 'the build produces dist/src/main.js');
  const stopSignal = argsOf(runtime, 'STOPSIGNAL').at(-1);
  if (stopSignal !== undefined) assert.equal(stopSignal, 'SIGTERM');

  // The HEALTHCHECK command itself: 0 against the live proxy, not 0 against a closed port. It asks /livez,
  // not /healthz (503 while no backend is up): a GPU server down must not get a working proxy restarted.
  const healthcheck = argsOf(runtime, 'HEALTHCHECK').at(-1) ?? '';
  assert.match(healthcheck, /'\/livez'/);
  assert.doesNotMatch(healthcheck, /\/healthz/);
  const check = /\bCMD\s+(.*)$/s.exec(healthcheck)?.[1];
  assert.ok(check, 'HEALTHCHECK CMD ...');
  const argv = commandOf(check);
  const { proxy } = await servedProxy();
  assert.equal(await exitCode(argv, { [`${ENV_PREFIX}_PORT`]: String(proxy.port) }), 0, 'healthy proxy');
  assert.notEqual(await exitCode(argv, { [`${ENV_PREFIX}_PORT`]: String(await freePort()) }), 0, 'nothing listening');

  // A proxy whose only backend is gone: /healthz says so, the container stays healthy.
  const orphan = await startCluster(t, [
    '--workers',
    '1',
    '--backend-url',
    `http://127.0.0.1:${await freePort()}`,
    '--health-interval',
    '200',
  ]);
  await eventually(
    '/healthz 503 with the backend gone',
    async () => (await send(`${orphan.url}/healthz`)).status,
    (status) => status === 503,
    { timeoutMs: 5_000, everyMs: 50 },
  );
  assert.equal(await exitCode(argv, { [`${ENV_PREFIX}_PORT`]: String(orphan.port) }), 0, 'healthy with no backend up');

  const ignored = readRepoFile('.dockerignore')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  for (const path of ['node_modules', 'dist', '.git']) assert.ok(ignored.includes(path), `.dockerignore lists ${path}`);
});
