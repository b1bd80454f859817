import { readFileSync } from 'node:fs';
import { request, WebSocket } from 'undici';
import { eventually } from '../../support/wait.js';

const INSPECTOR_TIMEOUT_MS = 10_000;
const INSPECTOR_POLL_MS = 100;
const LIST_TIMEOUT_MS = 2_000;

interface InspectorAnswer {
  id?: number;
  result?: { result?: { value?: unknown } };
}

/**
 * Without a full collection, a snapshot's heap and RSS depend on where each process happens to be in its
 * GC cycle, which can hide or fake a slow leak. The proxy runs with --inspect-port=127.0.0.1:<base> in
 * NODE_OPTIONS; node:cluster starts each worker with its own --inspect-port (base + worker id). SIGUSR1
 * makes a process open its inspector on that port (Node's own signal, no code in the proxy involved).
 */
export class HeapCollector {
  readonly #basePort: number;
  readonly #urls = new Map<number, string>();

  constructor(basePort: number) {
    this.#basePort = basePort;
  }

  /** Two full collections in process `pid`; resolves with its heap in use afterwards, in bytes. */
  async collect(pid: number): Promise<number> {
    const ws = new WebSocket(await this.#inspectorUrl(pid));
    try {
      const call = await connected(ws, pid);
      await call('HeapProfiler.collectGarbage');
      await call('HeapProfiler.collectGarbage');
      const answer = await call('Runtime.evaluate', { expression: 'process.memoryUsage().heapUsed', returnByValue: true });
      return Number(answer.result?.result?.value);
    } finally {
      ws.close();
    }
  }

  /** The primary has the base port from NODE_OPTIONS; a worker has its port on its command line. */
  #port(pid: number): number {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    for (const arg of cmdline) {
      const match = /^--inspect-port=(?:.*:)?(\d+)$/.exec(arg);
      if (match !== null) return Number(match[1]);
    }
    return this.#basePort;
  }

  async #inspectorUrl(pid: number): Promise<string> {
    const known = this.#urls.get(pid);
    if (known !== undefined) return known;
    const port = this.#port(pid);
    let url = await debuggerUrl(port);
    if (url === null) {
      process.kill(pid, 'SIGUSR1');
      const opened = (found: string | null): boolean => found !== null;
      const wait = { timeoutMs: INSPECTOR_TIMEOUT_MS, everyMs: INSPECTOR_POLL_MS };
      url = await eventually(`inspector of process ${pid} on port ${port}`, () => debuggerUrl(port), opened, wait);
    }
    this.#urls.set(pid, url as string);
    return url as string;
  }
}

/** The WebSocket URL an open inspector lists, or null while it is not open. */
async function debuggerUrl(port: number): Promise<string | null> {
  try {
    const res = await request(`http://127.0.0.1:${port}/json/list`, { headersTimeout: LIST_TIMEOUT_MS, bodyTimeout: LIST_TIMEOUT_MS });
    const targets = (await res.body.json()) as Array<{ webSocketDebuggerUrl?: string }>;
    return targets[0]?.webSocketDebuggerUrl ?? null;
  } catch {
    return null;
  }
}

/** Once `ws` is open: a function that sends one inspector command and resolves with its answer (bounded). */
async function connected(
  ws: WebSocket,
  pid: number,
): Promise<(method: string, params?: Record<string, unknown>) => Promise<InspectorAnswer>> {
  const pending = new Map<number, (message: InspectorAnswer) => void>();
  let nextId = 1;
  ws.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data)) as InspectorAnswer;
    if (message.id !== undefined) pending.get(message.id)?.(message);
  });
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener('open', () => resolve());
    ws.addEventListener('error', () => reject(new Error(`inspector of ${pid}: connection failed`)));
  });
  return (method, params = {}) =>
    new Promise<InspectorAnswer>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => reject(new Error(`inspector of ${pid}: ${method} timed out`)), INSPECTOR_TIMEOUT_MS);
      pending.set(id, (message) => {
        clearTimeout(timer);
        resolve(message);
      });
      ws.send(JSON.stringify({ id, method, params }));
    });
}
