import assert from 'node:assert/strict';
import { test } from 'node:test';
import { frameChunk } from '../../src/worker/chunked-socket.js';

test('a chunk is framed as hex size, CRLF, the bytes unchanged, CRLF', () => {
  for (const size of [1, 9, 15, 16, 255, 256, 4095, 65_536]) {
    const chunk = Buffer.alloc(size, 0xab);
    chunk[0] = 0x0d; // bytes that look like framing are copied as they are
    const frame = frameChunk(chunk);
    const head = `${size.toString(16)}\r\n`;
    assert.equal(frame.length, head.length + size + 2, `size ${size}`);
    assert.equal(frame.subarray(0, head.length).toString('latin1'), head);
    assert.ok(frame.subarray(head.length, head.length + size).equals(chunk));
    assert.equal(frame.subarray(head.length + size).toString('latin1'), '\r\n');
  }
});
