import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { request } from 'undici';
import { chunkedSocketOf, frameChunks } from '../../src/worker/chunked-socket.js';

test('a chunk is framed as hex size, CRLF, the bytes unchanged, CRLF', () => {
  for (const size of [1, 9, 15, 16, 255, 256, 4095, 65_536]) {
    const chunk = Buffer.alloc(size, 0xab);
    chunk[0] = 0x0d; // bytes that look like framing are copied as they are
    const frame = frameChunks([chunk], size);
    const head = `${size.toString(16)}\r\n`;
    assert.equal(frame.length, head.length + size + 2, `size ${size}`);
    assert.equal(frame.subarray(0, head.length).toString('latin1'), head);
    assert.ok(frame.subarray(head.length, head.length + size).equals(chunk));
    assert.equal(frame.subarray(head.length + size).toString('latin1'), '\r\n');
  }
});

test('several parts are framed as one chunk of their bytes in order', () => {
  const parts = [Buffer.from('data: {"a":1}\n\n'), Buffer.from('0\r\n\r\n'), Buffer.from('data: [DONE]\n\n')];
  const bytes = parts.reduce((sum, part) => sum + part.length, 0);
  const frame = frameChunks(parts, bytes);
  assert.equal(frame.toString('latin1'), `${bytes.toString(16)}\r\ndata: {"a":1}\n\n0\r\n\r\ndata: [DONE]\n\n\r\n`);
});

test('on this Node a flushed chunked response hands over its socket; HEAD and fixed-length responses do not', async (t) => {
  const seen: Array<{ path: string; direct: boolean }> = [];
  const server = createServer((req, res) => {
    const fixed = req.url === '/fixed';
    res.writeHead(200, fixed ? { 'content-length': '2' } : { 'content-type': 'text/event-stream' });
    res.flushHeaders();
    seen.push({ path: `${req.method} ${req.url}`, direct: chunkedSocketOf(res, req.method) !== null });
    res.end(fixed ? 'ok' : undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  for (const [method, path] of [
    ['GET', '/stream'],
    ['HEAD', '/stream'],
    ['GET', '/fixed'],
  ] as const) {
    const res = await request(`http://127.0.0.1:${port}${path}`, { method, reset: true });
    await res.body.dump();
  }
  assert.deepEqual(seen, [
    { path: 'GET /stream', direct: true },
    { path: 'HEAD /stream', direct: false },
    { path: 'GET /fixed', direct: false },
  ]);
});
