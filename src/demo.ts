/**
 * `npm run demo`: simulated backends and the proxy in front of them, in one command.
 *   npm run demo                    one backend on port 8000 (any free port if 8000 is taken)
 *   npm run demo -- --backends 3    three, each its own process (the last one also serves mock-model-b),
 *                                   so that stopping one shows failover on /dashboard (issue 11 point 6)
 * Every other argument goes to the proxy. Ctrl-C stops the proxy (gracefully) and then the backends.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MOCK_MODEL } from './mock-backend/mock-controls.js';
import { type MockBackendProcess, nodeCommand, spawnMockBackend } from './mock-backend/spawn-mock-backend.js';

const PROXY_MAIN = fileURLToPath(new URL('./main.js', import.meta.url));
// Backends on 8000, 8010, 8020, ...: easy to tell apart and clear of the proxy's 8001.
const DEMO_BACKEND_PORT = 8000;
const DEMO_BACKEND_PORT_STEP = 10;
const DEMO_TTFT_MS = 300;
const DEMO_TOKEN_DELAY_MS = 30;
const MAX_DEMO_BACKENDS = 9;
const OTHER_MODEL = 'mock-model-b';
const EXIT_USAGE = 2;

interface DemoArgs {
  readonly backends: number;
  readonly proxyArgs: readonly string[];
}

/** Takes `--backends N` (or `--backends=N`) out of the arguments; the rest are the proxy's. */
function parseDemoArgs(args: readonly string[]): DemoArgs | string {
  const proxyArgs: string[] = [];
  let value: string | undefined = '1';
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--backends') value = args[++i];
    else if (arg.startsWith('--backends=')) value = arg.slice('--backends='.length);
    else proxyArgs.push(arg);
  }
  const backends = Number(value);
  if (!Number.isInteger(backends) || backends < 1 || backends > MAX_DEMO_BACKENDS) {
    return `--backends must be a whole number from 1 to ${MAX_DEMO_BACKENDS}`;
  }
  return { backends, proxyArgs };
}

/** With a fleet the last backend also serves a second model, so model routing has something to show. */
function modelsOf(index: number, count: number): string {
  return count > 1 && index === count - 1 ? `${DEFAULT_MOCK_MODEL},${OTHER_MODEL}` : DEFAULT_MOCK_MODEL;
}

async function startBackend(index: number, count: number): Promise<MockBackendProcess> {
  const args = ['--models', modelsOf(index, count), '--ttft-ms', String(DEMO_TTFT_MS), '--token-delay-ms', String(DEMO_TOKEN_DELAY_MS)];
  // Own process groups: a Ctrl-C must not stop the backends under the streams the proxy is still draining.
  try {
    return await spawnMockBackend({ port: DEMO_BACKEND_PORT + index * DEMO_BACKEND_PORT_STEP, args, detached: true });
  } catch {
    // The port is taken (perhaps by a real backend): any free port instead.
    return spawnMockBackend({ port: 0, args, detached: true });
  }
}

async function startFleet(count: number): Promise<MockBackendProcess[]> {
  const fleet: MockBackendProcess[] = [];
  try {
    for (let i = 0; i < count; i++) fleet.push(await startBackend(i, count));
    return fleet;
  } catch (err) {
    await Promise.all(fleet.map((backend) => backend.stop()));
    throw err;
  }
}

async function main(): Promise<void> {
  const parsed = parseDemoArgs(process.argv.slice(2));
  if (typeof parsed === 'string') {
    process.stderr.write(`demo: ${parsed}\n`);
    process.exit(EXIT_USAGE);
  }
  const fleet = await startFleet(parsed.backends);
  let stopping = false;
  fleet.forEach((backend, index) => {
    void backend.exited.then(() => {
      if (!stopping) process.stdout.write(`\nBackend ${index + 1} (${backend.url}) stopped. Restart it with:\n  ${backend.command}\n\n`);
    });
  });
  const proxyArgs = [...fleet.flatMap((backend) => ['--backend-url', backend.url]), ...parsed.proxyArgs];
  process.stdout.write(describeFleet(fleet, proxyArgs));
  const proxy = startProxy(proxyArgs, fleet);
  const stop = (): void => {
    proxy.kill('SIGTERM');
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // Last resort if this script dies first: nothing it started may outlive it.
  process.on('exit', () => {
    for (const child of [proxy, ...fleet.map((backend) => backend.child)]) child.kill('SIGKILL');
  });
  proxy.on('exit', (code) => {
    stopping = true;
    void Promise.all(fleet.map((backend) => backend.stop())).then(() => process.exit(code ?? 0));
  });
}

/** The proxy, its output passed through, the try-it text once it is ready. */
function startProxy(args: readonly string[], fleet: readonly MockBackendProcess[]): ChildProcess {
  // Its own process group: a Ctrl-C reaches only this script, which forwards it once (a second signal
  // would make the proxy skip the graceful drain).
  const proxy = fork(PROXY_MAIN, args, { stdio: ['inherit', 'pipe', 'inherit', 'ipc'], detached: true });
  let announced = false;
  createInterface({ input: proxy.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    process.stdout.write(`${line}\n`);
    if (announced || !line.includes('"msg":"proxy ready"')) return;
    announced = true;
    process.stdout.write(tryIt(`http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}`, fleet.length));
  });
  return proxy;
}

function describeFleet(fleet: readonly MockBackendProcess[], proxyArgs: readonly string[]): string {
  const lines = ['', fleet.length === 1 ? 'Simulated backend:' : `${fleet.length} simulated backends, each its own process:`];
  fleet.forEach((backend, index) => {
    lines.push(
      `  ${index + 1}. ${backend.url}   models: ${modelsOf(index, fleet.length)}   pid ${backend.pid}`,
      `     stop:    kill ${backend.pid}`,
      `     restart: ${backend.command}`,
    );
  });
  lines.push(`Proxy: ${nodeCommand(PROXY_MAIN, proxyArgs)}`, '', '');
  return lines.join('\n');
}

function tryIt(base: string, backends: number): string {
  const curl = (model: string): string[] => [
    `  curl -N ${base}/inference/v1/chat/completions -H 'content-type: application/json' \\`,
    `    -d '{"model":"${model}","stream":true,"max_tokens":20,"messages":[{"role":"user","content":"Hello there"}]}'`,
  ];
  const fleet = backends > 1;
  return [
    '',
    `Proxy: ${base}`,
    'Try:',
    ...curl(DEFAULT_MOCK_MODEL),
    ...(fleet ? [`  # ${OTHER_MODEL} is served by backend ${backends} only:`, ...curl(OTHER_MODEL)] : []),
    `  curl ${base}/metrics`,
    `  curl ${base}/healthz`,
    `  open ${base}/dashboard in a browser for a live view`,
    ...(fleet
      ? [
          'Stop a backend with its kill command above and watch the traffic move on /dashboard; its restart command',
          'brings it back (a backend you restart yourself is yours to stop).',
        ]
      : []),
    'Ctrl-C stops everything.',
    '',
  ].join('\n');
}

main().catch((err: unknown) => {
  console.error('demo failed:', err);
  process.exit(1);
});
