import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { type TestContext, test } from 'node:test';
import { isAlive } from '../../support/processes.js';
import { runCli } from '../helpers/start-proxy.js';

// Each start fails within seconds; the bound covers a loaded 2-core machine, not a crash loop (which never ends).
const TEST = { timeout: 60_000 };

/** A port another process holds, for the whole test. */
async function takenPort(t: TestContext): Promise<number> {
  const server: Server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return (server.address() as AddressInfo).port;
}

/** Runs the proxy to its exit: code 2, exactly one line on stderr, and no worker left behind. */
async function refusedLine(args: string[]): Promise<string> {
  const { code, stdout, stderr } = await runCli(['--health-interval', '0', '--discovery-interval', '0', ...args]);
  const lines = stderr.trimEnd().split('\n');
  assert.equal(code, 2, stderr);
  assert.equal(lines.length, 1, stderr);
  const workers = stdout
    .split('\n')
    .filter((line) => line.includes('"msg":"worker exited"'))
    .map((line) => (JSON.parse(line) as { worker_pid: number }).worker_pid);
  for (const pid of workers) assert.equal(await isAlive(pid), false, `worker ${pid} is gone`);
  return lines[0] as string;
}

test('a proxy port another process holds: exit 2 at once with one line naming the address and port, every worker gone', TEST, async (t) => {
  const port = await takenPort(t);
  const { stdout } = await runCli(['--host', '127.0.0.1', '--port', String(port), '--workers', '2']);
  assert.equal(stdout.split('\n').filter((line) => line.includes('"msg":"worker exited"')).length, 2, 'both workers started, and are gone');
  assert.equal(
    await refusedLine(['--host', '127.0.0.1', '--port', String(port), '--workers', '2']),
    `inference-proxy: --port: cannot listen on 127.0.0.1:${port}: address already in use (EADDRINUSE)`,
  );
});

test('an address this machine does not have, or a host name that does not resolve: exit 2 naming --host', TEST, async () => {
  // 192.0.2.1 (TEST-NET-1) is no address of this machine.
  assert.equal(
    await refusedLine(['--host', '192.0.2.1', '--port', '0', '--workers', '1']),
    'inference-proxy: --host: cannot listen on 192.0.2.1:0: not an address of this machine (EADDRNOTAVAIL)',
  );
  assert.equal(
    await refusedLine(['--host', 'no-such-host.invalid', '--port', '0', '--workers', '1']),
    'inference-proxy: --host: cannot listen on no-such-host.invalid:0: no such host (ENOTFOUND)',
  );
});

test('a busy --metrics-port or a --metrics-host that does not resolve: exit 2 with one line', TEST, async (t) => {
  const port = await takenPort(t);
  assert.equal(
    await refusedLine(['--host', '127.0.0.1', '--port', '0', '--workers', '1', '--metrics-port', String(port)]),
    `inference-proxy: --metrics-port: cannot listen on 127.0.0.1:${port}: address already in use (EADDRINUSE)`,
  );
  assert.equal(
    await refusedLine([
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--workers',
      '1',
      '--metrics-port',
      '0',
      '--metrics-host',
      'not-an-ip.invalid',
    ]),
    'inference-proxy: --metrics-host: cannot listen on not-an-ip.invalid:0: no such host (ENOTFOUND)',
  );
});
