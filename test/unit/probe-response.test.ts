import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MalformedResponse, ProbeResponse } from '../../src/primary/probe-response.js';
import { bytes, splitAt } from '../helpers/chunking.js';

interface Read {
  done: boolean;
  status: number;
  body: string | null;
  reusable: boolean;
  tooLarge: boolean;
  extra: number;
}

/** Reads `wire` in the given chunks, then (if `ended`) the connection's end. */
function read(chunks: Iterable<Buffer>, options: { keepBody?: boolean; max?: number; ended?: boolean } = {}): Read {
  const response = new ProbeResponse(options.keepBody ?? true, options.max ?? 1024);
  let done = false;
  for (const chunk of chunks) if (!done) done = response.push(chunk);
  if (!done && options.ended === true) done = response.end();
  const body = response.body();
  return {
    done,
    status: response.status,
    body: body === null ? null : body.toString(),
    reusable: response.reusable,
    tooLarge: response.tooLarge,
    extra: response.extra,
  };
}

/** The same read at every single cut point and byte by byte: where a read ends must not matter. */
function readEveryway(wire: string, options: { keepBody?: boolean; max?: number; ended?: boolean } = {}): Read {
  const buf = Buffer.from(wire);
  const whole = read([buf], options);
  assert.deepEqual(read(bytes(buf), options), whole, 'byte by byte');
  for (let point = 0; point <= buf.length; point++) assert.deepEqual(read(splitAt(buf, [point]), options), whole, `cut at ${point}`);
  return whole;
}

const CHUNKED = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';

test('a Content-Length body: the status, the body, and a connection to keep', () => {
  assert.deepEqual(readEveryway('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello'), {
    done: true,
    status: 200,
    body: 'hello',
    reusable: true,
    tooLarge: false,
    extra: 0,
  });
  assert.deepEqual(readEveryway('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n'), {
    done: true,
    status: 503,
    body: '',
    reusable: true,
    tooLarge: false,
    extra: 0,
  });
});

test('a chunked body, with chunk extensions, upper-case hex, LF-only lines and trailers', () => {
  const wire = `${CHUNKED}5;name=value\r\nhello\r\nA\r\n, chunked!\r\n4\n abc\n0\r\nX-Trailer: 1\r\n\r\n`;
  assert.deepEqual(readEveryway(wire), { done: true, status: 200, body: 'hello, chunked! abc', reusable: true, tooLarge: false, extra: 0 });
  // Transfer-Encoding wins over Content-Length (RFC 9112 6.3).
  const both = 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n';
  assert.equal(readEveryway(both).body, 'ok');
});

test('a body that runs to the end of the connection is complete only at the end, and its connection is not kept', () => {
  const wire = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"data":[]}';
  assert.equal(read([Buffer.from(wire)]).done, false);
  assert.deepEqual(readEveryway(wire, { ended: true }), {
    done: true,
    status: 200,
    body: '{"data":[]}',
    reusable: false,
    tooLarge: false,
    extra: 0,
  });
  // A coding that does not end in chunked also runs to the end.
  assert.equal(readEveryway('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxyz', { ended: true }).reusable, false);
});

test('an interim 1xx head is skipped; 204 and 304 have no body', () => {
  const wire = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX: y\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
  assert.deepEqual(readEveryway(wire), { done: true, status: 200, body: 'ok', reusable: true, tooLarge: false, extra: 0 });
  assert.deepEqual(readEveryway('HTTP/1.1 204 No Content\r\n\r\n'), {
    done: true,
    status: 204,
    body: '',
    reusable: true,
    tooLarge: false,
    extra: 0,
  });
  assert.equal(readEveryway('HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n').done, true);
});

test('Connection: close and HTTP/1.0 answers are not kept; HTTP/1.0 with keep-alive is', () => {
  assert.equal(readEveryway('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok').reusable, false);
  assert.equal(readEveryway('HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\nContent-Length: 0\r\n\r\n').reusable, false);
  assert.equal(readEveryway('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok').reusable, false);
  assert.equal(readEveryway('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok').reusable, true);
});

test('bytes after the response are counted, so that the connection is not kept', () => {
  const read1 = read([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n')]);
  assert.equal(read1.done, true);
  assert.equal(read1.body, 'ok');
  assert.equal(read1.extra, 'HTTP/1.1 200 OK\r\n'.length);
});

test('a body over the limit ends the read there: the status stands, the body is not kept, the connection not reused', () => {
  const over = read([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n'), Buffer.alloc(40, 0x61)], { max: 16 });
  assert.deepEqual([over.done, over.status, over.body, over.reusable, over.tooLarge], [true, 200, null, false, true]);
  const chunked = read([Buffer.from(`${CHUNKED}20\r\n${'b'.repeat(32)}\r\n0\r\n\r\n`)], { max: 16 });
  assert.equal(chunked.tooLarge, true);
  assert.equal(chunked.status, 200);
  // Up to the limit is fine; without keepBody the bytes are counted, not kept.
  assert.equal(readEveryway('HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n0123456789abcdef', { max: 16 }).body, '0123456789abcdef');
  assert.deepEqual(readEveryway('HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n0123456789abcdef', { keepBody: false, max: 16 }), {
    done: true,
    status: 200,
    body: null,
    reusable: true,
    tooLarge: false,
    extra: 0,
  });
});

test('what is not HTTP/1.x is malformed', () => {
  const malformed = (wire: string) => assert.throws(() => read([Buffer.from(wire)]), MalformedResponse, JSON.stringify(wire));
  malformed('SSH-2.0-OpenSSH_9.2\r\n\r\n');
  malformed('HTTP/2 200\r\n\r\n');
  malformed('HTTP/1.1 20 OK\r\n\r\n');
  malformed('HTTP/1.1 200 OK\r\nno colon here\r\n\r\n');
  malformed('HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n');
  malformed('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok');
  malformed(`${CHUNKED}zz\r\n`);
  malformed(`${CHUNKED}2\r\nokX\r\n`);
  malformed(`HTTP/1.1 200 OK\r\nX: ${'y'.repeat(70 * 1024)}`);
  // An incomplete answer is not complete at the end either.
  assert.equal(read([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel')], { ended: true }).done, false);
  assert.equal(read([Buffer.from('HTTP/1.1 200 O')], { ended: true }).done, false);
});
