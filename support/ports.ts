import { type AddressInfo, createServer } from 'node:net';

/** Whether `port` on loopback can be listened on right now. */
function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A loopback port that was free a moment ago and is closed now, for servers that cannot be told to pick
 * one themselves (nginx, Prometheus, a proxy started by a script), or to stand for "nothing listens here".
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A base port with `count` consecutive free ports from it, below Linux's ephemeral range (node:cluster
 * gives each worker the primary's inspector port plus its id, so a run is needed, not one port).
 */
export async function freePortRun(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 10_000);
    let free = true;
    for (let port = base; port < base + count && free; port++) free = await isFree(port);
    if (free) return base;
  }
  throw new Error(`no run of ${count} free ports found`);
}
