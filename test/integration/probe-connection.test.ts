import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import test, { type TestContext } from 'node:test';
import { ProbeConnection, ProbeFailure, type ProbeRequest } from '../../src/primary/probe-connection.js';
import { freePort } from '../../support/ports.js';

const HEALTH: ProbeRequest = { path: '/health', headers: 'Host: b\r\n', timeoutMs: 2_000, keepBody: true, maxBodyBytes: 1024 };

async function listen(t: TestContext, server: Server): Promise<string> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function connectionOf(t: TestContext, origin: string): ProbeConnection {
  const connection = new ProbeConnection(origin);
  t.after(() => connection.close());
  return connection;
}

/** A server that writes `answers[i]` for the i-th request it reads (a request is its bytes up to CRLFCRLF), counting connections. */
function scriptedServer(answer: (request: number, socket: Socket) => void): { server: Server; connections: () => number } {
  let connections = 0;
  let requests = 0;
  const server = createServer((socket) => {
    connections++;
    let text = '';
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      while (text.includes('\r\n\r\n')) {
        text = text.slice(text.indexOf('\r\n\r\n') + 4);
        answer(requests++, socket);
      }
    });
    socket.on('error', () => undefined);
  });
  return { server, connections: () => connections };
}

test('answers from a Node server come back with status and body, on one kept connection', async (t) => {
  let connections = 0;
  const server = createHttpServer((req, res) => {
    if (req.url === '/health') res.end('ok');
    else {
      res.writeHead(503, { 'transfer-encoding': 'chunked' });
      res.write('not ');
      res.end('ready');
    }
  });
  server.on('connection', () => connections++);
  const origin = await listen(t, server as unknown as Server);
  const connection = connectionOf(t, origin);
  const first = await connection.get(HEALTH);
  assert.equal(first.status, 200);
  assert.equal(first.body?.toString(), 'ok');
  const second = await connection.get({ ...HEALTH, path: '/other' });
  assert.equal(second.status, 503);
  assert.equal(second.body?.toString(), 'not ready');
  assert.equal((await connection.get(HEALTH)).status, 200);
  assert.equal(connections, 1);
});

test('a kept connection the backend closed meanwhile, or closes as the request arrives, is replaced: the check succeeds', async (t) => {
  const { server, connections } = scriptedServer((request, socket) => {
    // 0: answered, then the connection is kept. 1: the backend closes it on reading the request, answering
    // nothing (the keep-alive race). 2: answered on the new connection, then closed by the backend while idle.
    if (request === 1) socket.destroy();
    else {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      if (request === 2) setImmediate(() => socket.end());
    }
  });
  const origin = await listen(t, server);
  const connection = connectionOf(t, origin);
  assert.equal((await connection.get(HEALTH)).status, 200);
  assert.equal((await connection.get(HEALTH)).status, 200);
  assert.equal(connections(), 2);
  // The backend ends connection 2 while it is idle: the next check goes out on a third.
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal((await connection.get(HEALTH)).status, 200);
  assert.equal(connections(), 3);
});

test('a backend that answers nothing is a timeout within the bound; a closed port is unreachable', async (t) => {
  const { server } = scriptedServer(() => undefined);
  const origin = await listen(t, server);
  const connection = connectionOf(t, origin);
  const started = performance.now();
  const silent = await connection.get({ ...HEALTH, timeoutMs: 100 }).catch((err: unknown) => err);
  assert.ok(silent instanceof ProbeFailure);
  assert.equal(silent.result, 'timeout');
  assert.ok(performance.now() - started < 1_000);

  const refused = await connectionOf(t, `http://127.0.0.1:${await freePort()}`)
    .get(HEALTH)
    .catch((err: unknown) => err);
  assert.ok(refused instanceof ProbeFailure);
  assert.equal(refused.result, 'unreachable');
});

test('an answer cut short, or not HTTP, fails the check as unreachable; the connection is not kept', async (t) => {
  const { server, connections } = scriptedServer((request, socket) => {
    if (request === 0) socket.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok');
    else socket.end('SSH-2.0-OpenSSH\r\n\r\n');
  });
  const origin = await listen(t, server);
  const connection = connectionOf(t, origin);
  for (const _ of [0, 1]) {
    const err = await connection.get(HEALTH).catch((e: unknown) => e);
    assert.ok(err instanceof ProbeFailure);
    assert.equal(err.result, 'unreachable');
  }
  assert.equal(connections(), 2);
});
