import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { burstEvent, startEchoBackend } from '../helpers/echo-backend.js';
import { startInProcessProxy } from '../helpers/in-process-proxy.js';
import { parseRawResponse, rawConnection, rawRequest } from '../helpers/raw-http.js';

// Streamed responses are framed by the proxy itself and written straight to the client socket
// (src/worker/chunked-socket.ts). These tests read the raw bytes on the wire.

const sseBody = (n: number): string => `${Array.from({ length: n }, (_, i) => `data: {"i":${i}}\n\n`).join('')}data: [DONE]\n\n`;
const complete = (count: number) => (data: string) => {
  let rest = data;
  for (let i = 0; i < count; i++) {
    const response = parseRawResponse(rest);
    if (response === null) return false;
    rest = response.rest;
  }
  return true;
};

function parseAll(data: string, count: number) {
  const responses = [];
  let rest = data;
  for (let i = 0; i < count; i++) {
    const response = parseRawResponse(rest);
    assert.ok(response !== null, `response ${i + 1} of ${count} is incomplete`);
    responses.push(response);
    rest = response.rest;
  }
  assert.equal(rest, '', 'nothing follows the last response');
  return responses;
}

test('a streamed response is chunk-framed exactly, and its keep-alive connection serves the next requests', async (t) => {
  const backend = await startEchoBackend(t);
  const { url, proxy } = await startInProcessProxy(t, { 'backend-url': backend.url });
  const serverSockets: Socket[] = [];
  proxy.server.on('connection', (socket: Socket) => serverSockets.push(socket));
  const connection = await rawConnection(Number(new URL(url).port));
  t.after(() => connection.destroy());

  connection.write('GET /sse?n=5&gap=5 HTTP/1.1\r\nHost: proxy\r\n\r\n');
  const [first] = parseAll(await connection.until(complete(1)), 1);
  assert.equal(first?.status, 200);
  assert.equal(first?.headers['transfer-encoding'], 'chunked');
  assert.equal(first?.body, sseBody(5));
  assert.equal(serverSockets.length, 1);
  const socket = serverSockets[0] as Socket;
  const drainListeners = socket.listenerCount('drain');

  // Two more streams and a fixed-length response on the same connection: all framed right, no listener left behind.
  connection.write('GET /sse?n=3&gap=1 HTTP/1.1\r\nHost: proxy\r\n\r\n');
  await connection.until(complete(2));
  connection.write('GET /sse?n=1&gap=1 HTTP/1.1\r\nHost: proxy\r\n\r\n');
  await connection.until(complete(3));
  connection.write('GET /binary?size=100 HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n\r\n');
  const responses = parseAll(await connection.closed(), 4);
  assert.deepEqual(
    responses.map((r) => r.body.length),
    [sseBody(5).length, sseBody(3).length, sseBody(1).length, 100],
  );
  assert.equal(responses[1]?.body, sseBody(3));
  assert.equal(responses[2]?.body, sseBody(1));
  assert.equal(serverSockets.length, 1, 'one connection served all four');
  assert.equal(socket.listenerCount('drain'), drainListeners);
});

test('the events of one read from the backend leave as one chunk; the body is unchanged', async (t) => {
  const backend = await startEchoBackend(t);
  const { url } = await startInProcessProxy(t, { 'backend-url': backend.url });
  const connection = await rawConnection(Number(new URL(url).port));
  t.after(() => connection.destroy());
  // 3 bursts of 4 events, each burst one TCP write of 4 HTTP chunks.
  connection.write('GET /sse-burst?bursts=3&n=4&gap=30 HTTP/1.1\r\nHost: proxy\r\n\r\n');
  const [response] = parseAll(await connection.until(complete(1)), 1);
  const events = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => burstEvent(from + i)).join('');
  assert.equal(response?.body, `${events(0, 12)}data: [DONE]\n\n`);
  // The first event releases the held head and leaves with it; the rest of its burst follows as one chunk.
  assert.deepEqual(response?.chunks, [events(0, 1), events(1, 4), events(4, 8), events(8, 12), 'data: [DONE]\n\n']);
});

test('pipelined streamed requests come back complete and in order', async (t) => {
  const backend = await startEchoBackend(t);
  const { url } = await startInProcessProxy(t, { 'backend-url': backend.url });
  const connection = await rawConnection(Number(new URL(url).port));
  t.after(() => connection.destroy());
  // The second stream is quicker than the first: its response starts while it is not its turn to be written.
  connection.write(
    'GET /sse?n=6&gap=20 HTTP/1.1\r\nHost: proxy\r\n\r\n' +
      'GET /sse?n=4&gap=1 HTTP/1.1\r\nHost: proxy\r\n\r\n' +
      'GET /sse?n=2&gap=1 HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n\r\n',
  );
  const responses = parseAll(await connection.closed(), 3);
  assert.deepEqual(
    responses.map((r) => r.body),
    [sseBody(6), sseBody(4), sseBody(2)],
  );
});

test('an HTTP/1.0 client gets the stream unframed, ended by closing the connection', async (t) => {
  const backend = await startEchoBackend(t);
  const { url } = await startInProcessProxy(t, { 'backend-url': backend.url });
  const reply = await rawRequest(Number(new URL(url).port), 'GET /sse?n=4&gap=2 HTTP/1.0\r\nHost: proxy\r\n\r\n');
  const headEnd = reply.indexOf('\r\n\r\n');
  assert.match(reply.slice(0, headEnd), /^HTTP\/1\.1 200 /);
  assert.doesNotMatch(reply.slice(0, headEnd).toLowerCase(), /transfer-encoding/);
  assert.equal(reply.slice(headEnd + 4), sseBody(4));
});
