import { fork } from 'node:child_process';
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
  const proxy = fork(fileURLToPath(new URL('./main.js', import.meta.url)), args, { stdio: ['inherit', 'pipe', 'inherit', 'ipc'] });
  let port = 0;
  proxy.stdout?.on('data', (chunk: Buffer) => {
    process.stdout.write(chunk);
    const match = /"msg":"proxy ready"/.test(chunk.toString()) ? /"port":(\d+)/.exec(chunk.toString()) : null;
    if (match) port = Number(match[1]);
  });
  proxy.on('message', (message) => {
    if (message !== 'ready') return;
    const base = `http://127.0.0.1:${port || 8001}`;
    process.stdout.write(
      [
        '',
        `Simulated backend: ${backend.url}   Proxy: ${base}`,
        'Try:',
        `  curl -N ${base}/inference/v1/chat/completions -H 'content-type: application/json' \\`,
        `    -d '{"model":"mock-model","stream":true,"max_tokens":20,"messages":[{"role":"user","content":"Hello there"}]}'`,
        `  curl ${base}/metrics`,
        `  curl ${base}/healthz`,
        'Ctrl-C stops both.',
        '',
      ].join('\n'),
    );
  });
  const stop = (): void => {
    proxy.kill('SIGTERM');
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  proxy.on('exit', (code) => {
    void backend.close().then(() => process.exit(code ?? 0));
  });
}

main().catch((err: unknown) => {
  console.error('demo failed:', err);
  process.exit(1);
});
