import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { buildResponseHeaders, buildUpstreamHeaders, isUsableRequestId } from '../../src/worker/headers.js';

/** An IncomingMessage as far as buildUpstreamHeaders reads it: rawHeaders, lowercased headers, socket address. */
function fakeRequest(rawHeaders: string[], peer: { remoteAddress?: string } = { remoteAddress: '10.1.2.3' }): IncomingMessage {
  const headers: Record<string, string> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    const value = rawHeaders[i + 1]!;
    // Node joins repeated fields with ', ' (it keeps only the first Host, which these tests never repeat).
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  return { rawHeaders, headers, socket: peer } as unknown as IncomingMessage;
}

const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'http2-settings',
];

test('a plain request gets host rewritten and forwarding headers appended', () => {
  const req = fakeRequest(['Host', 'proxy.example:8001', 'Content-Type', 'application/json', 'Accept', '*/*']);
  assert.deepEqual(buildUpstreamHeaders(req, 'req-1', 'backend:8000'), [
    'host',
    'backend:8000',
    'Content-Type',
    'application/json',
    'Accept',
    '*/*',
    'x-forwarded-for',
    '10.1.2.3',
    'x-forwarded-proto',
    'http',
    'x-forwarded-host',
    'proxy.example:8001',
    'x-request-id',
    'req-1',
  ]);
});

test('hop-by-hop request headers are dropped, whatever their case', () => {
  const raw = ['Host', 'p'];
  for (const name of HOP_BY_HOP) {
    raw.push(name, 'x');
    raw.push(name.toUpperCase(), 'y');
  }
  raw.push('Connection', 'close');
  raw.push('Authorization', 'Bearer t');
  const out = buildUpstreamHeaders(fakeRequest(raw), 'id', 'b');
  assert.deepEqual(out, [
    'host',
    'b',
    'Authorization',
    'Bearer t',
    'x-forwarded-for',
    '10.1.2.3',
    'x-forwarded-proto',
    'http',
    'x-forwarded-host',
    'p',
    'x-request-id',
    'id',
  ]);
});

test('names listed in Connection are dropped', () => {
  const req = fakeRequest([
    'Host',
    'p',
    'Connection',
    'keep-alive, X-Secret-Hop , x-other',
    'X-Secret-Hop',
    '1',
    'x-other',
    '2',
    'X-Kept',
    '3',
  ]);
  const out = buildUpstreamHeaders(req, 'id', 'b');
  assert.deepEqual(out.slice(0, 4), ['host', 'b', 'X-Kept', '3']);
  const names = out.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
  assert.equal(names.includes('x-secret-hop'), false);
  assert.equal(names.includes('x-other'), false);
});

test('case of other names is kept and repeated headers stay in order', () => {
  const req = fakeRequest([
    'host',
    'p',
    'X-Custom-CASE',
    'a',
    'Accept',
    'text/plain',
    'x-custom-case',
    'b',
    'Cookie',
    'c=1',
    'Cookie',
    'd=2',
  ]);
  assert.deepEqual(buildUpstreamHeaders(req, 'id', 'b').slice(0, 10), [
    'host',
    'b',
    'X-Custom-CASE',
    'a',
    'Accept',
    'text/plain',
    'x-custom-case',
    'b',
    'Cookie',
    'c=1',
  ]);
  assert.deepEqual(buildUpstreamHeaders(req, 'id', 'b').slice(10, 12), ['Cookie', 'd=2']);
});

test('x-forwarded-for is appended to an existing value', () => {
  const req = fakeRequest(['Host', 'p', 'X-Forwarded-For', '1.1.1.1']);
  const out = buildUpstreamHeaders(req, 'id', 'b');
  assert.deepEqual(out, [
    'host',
    'b',
    'x-forwarded-for',
    '1.1.1.1, 10.1.2.3',
    'x-forwarded-proto',
    'http',
    'x-forwarded-host',
    'p',
    'x-request-id',
    'id',
  ]);
});

test('two x-forwarded-for fields become one list with the peer last', () => {
  const req = fakeRequest(['Host', 'p', 'X-Forwarded-For', '1.1.1.1', 'x-forwarded-for', '2.2.2.2']);
  const out = buildUpstreamHeaders(req, 'id', 'b');
  const xff = out.flatMap((v, i) => (i % 2 === 0 && v.toLowerCase() === 'x-forwarded-for' ? [out[i + 1]] : []));
  assert.deepEqual(xff, ['1.1.1.1, 2.2.2.2, 10.1.2.3']);
});

test('client forwarding headers and x-request-id are replaced, not duplicated', () => {
  const req = fakeRequest([
    'Host',
    'p',
    'X-Forwarded-Proto',
    'https',
    'X-Forwarded-Host',
    'spoofed',
    'X-Request-Id',
    'client-id',
    'x-request-id',
    'second',
  ]);
  assert.deepEqual(buildUpstreamHeaders(req, 'chosen-id', 'b'), [
    'host',
    'b',
    'x-forwarded-for',
    '10.1.2.3',
    'x-forwarded-proto',
    'http',
    'x-forwarded-host',
    'p',
    'x-request-id',
    'chosen-id',
  ]);
});

test('without a Host header there is no x-forwarded-host; an unknown peer is "unknown"', () => {
  const req = fakeRequest(['Accept', '*/*'], {});
  assert.deepEqual(buildUpstreamHeaders(req, 'id', 'b'), [
    'host',
    'b',
    'Accept',
    '*/*',
    'x-forwarded-for',
    'unknown',
    'x-forwarded-proto',
    'http',
    'x-request-id',
    'id',
  ]);
});

test('the request is not modified', () => {
  const raw = ['Host', 'p', 'Connection', 'close', 'X-A', '1'];
  const req = fakeRequest(raw);
  buildUpstreamHeaders(req, 'id', 'b');
  assert.deepEqual(req.rawHeaders, ['Host', 'p', 'Connection', 'close', 'X-A', '1']);
  assert.deepEqual(req.headers, { host: 'p', connection: 'close', 'x-a': '1' });
});

test('response: hop-by-hop headers dropped, arrays expanded, x-request-id appended', () => {
  const out = buildResponseHeaders(
    {
      'content-type': 'text/event-stream',
      connection: 'keep-alive',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      'proxy-connection': 'x',
      'proxy-authenticate': 'Basic',
      'proxy-authorization': 'x',
      te: 'trailers',
      trailer: 'x-checksum',
      upgrade: 'h2c',
      'set-cookie': ['a=1', 'b=2'],
      'cache-control': 'no-cache',
      'x-request-id': 'backend-id',
      'x-absent': undefined,
    },
    'req-9',
  );
  assert.deepEqual(out, [
    'content-type',
    'text/event-stream',
    'set-cookie',
    'a=1',
    'set-cookie',
    'b=2',
    'cache-control',
    'no-cache',
    'x-request-id',
    'req-9',
  ]);
});

test('response: names listed in Connection are dropped', () => {
  assert.deepEqual(buildResponseHeaders({ connection: 'close, X-Hop', 'x-hop': '1', 'x-keep': '2' }, 'id'), [
    'x-keep',
    '2',
    'x-request-id',
    'id',
  ]);
  assert.deepEqual(buildResponseHeaders({}, 'id'), ['x-request-id', 'id']);
});

test('isUsableRequestId accepts printable ASCII up to 200 characters', () => {
  assert.equal(isUsableRequestId('abc-123'), true);
  assert.equal(isUsableRequestId('!~"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}'), true);
  assert.equal(isUsableRequestId('a'.repeat(200)), true);
  assert.equal(isUsableRequestId('x'), true);
});

test('isUsableRequestId rejects spaces, control characters, non-ASCII, 201 characters, empty and undefined', () => {
  for (const bad of ['a b', ' ', 'a\tb', 'a\nb', 'a\rb', '\x00', '\x1f', '\x7f', 'é', 'id-\u2603', 'a'.repeat(201), '']) {
    assert.equal(isUsableRequestId(bad), false, JSON.stringify(bad));
  }
  assert.equal(isUsableRequestId(undefined), false);
});
