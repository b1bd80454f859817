import { fork } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createMockBackend, type MockBackend } from './mock-backend/create-mock-backend.js';

/** `npm run demo`: the simulated backend and the proxy in one command. Extra arguments go to the proxy. */
const DEMO_BACKEND_PORT = 8000;
const DEMO_TTFT_MS = 300;
const DEMO_TOKEN_DELAY_MS = 30;

async function startBackend(): Promise<MockBackend> {
  try {
    return await createMockBackend({ port: DEMO_BACKEND_PORT, ttftMs: DEMO_TTFT_MS, tokenDelayMs: DEMO_TOKEN_DELAY_MS });
  } catch {
    // Port 8000 is taken (perhaps by a real backend): use any free port instead.
    return createMockBackend({ port: 0, ttftMs: DEMO_TTFT_MS, tokenDelayMs: DEMO_TOKEN_DELAY_MS });
  }
}

async function main(): Promise<void> {
  const backend = await startBackend();
  const args = ['--backend-url', backend.url, ...process.argv.slice(2)];
  // Its own process group: a Ctrl-C reaches only this script, which forwards it once (a second signal
  // would make the proxy skip the graceful drain).
  const proxy = fork(fileURLToPath(new URL('./main.js', import.meta.url)), args, {
    stdio: ['inherit', 'pipe', 'inherit', 'ipc'],
    detached: true,
  });
  let announced = false;
  createInterface({ input: proxy.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    process.stdout.write(`${line}\n`);
    if (announced || !line.includes('"msg":"proxy ready"')) return;
    announced = true;
    announce(backend.url, `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}`);
  });
  const stop = (): void => {
    proxy.kill('SIGTERM');
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('exit', () => proxy.kill('SIGKILL'));
  proxy.on('exit', (code) => {
    void backend.close().then(() => process.exit(code ?? 0));
  });
}

function announce(backendUrl: string, base: string): void {
  process.stdout.write(
    [
      '',
      `Simulated backend: ${backendUrl}   Proxy: ${base}`,
      'Try:',
      `  curl -N ${base}/inference/v1/chat/completions -H 'content-type: application/json' \\`,
      `    -d '{"model":"mock-model","stream":true,"max_tokens":20,"messages":[{"role":"user","content":"Hello there"}]}'`,
      `  curl ${base}/metrics`,
      `  curl ${base}/healthz`,
      `  open ${base}/dashboard in a browser for a live view`,
      'Ctrl-C stops both.',
      '',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  console.error('demo failed:', err);
  process.exit(1);
});
