import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ERROR_CATALOG, errorBody, STATUS_CLIENT_CLOSED } from '../../src/shared/error-catalog.js';
import { ERR_BAD_REQUEST_BODY, ERR_BODY_TOO_LARGE, ERR_CLIENT_ABORTED, ProxyError } from '../../src/shared/proxy-error.js';
import { mapError as mapToCode } from '../../src/worker/error-response.js';

/** The mapping as the client sees it: the catalog's status and type for the mapped code. */
function mapError(err: unknown): { status: number; type: string; code: string; message: string } {
  const mapped = mapToCode(err);
  const entry = ERROR_CATALOG[mapped.code];
  return { status: entry.status, type: entry.type, code: mapped.code, message: mapped.message };
}

function codedError(code: string, message = 'boom'): Error {
  return Object.assign(new Error(message), { code });
}

test('undici timeouts map to 504', () => {
  assert.deepEqual(mapError(codedError('UND_ERR_CONNECT_TIMEOUT')), {
    status: 504,
    type: 'upstream_timeout',
    code: 'backend_timeout',
    message: 'connecting to the backend timed out',
  });
  assert.deepEqual(mapError(codedError('UND_ERR_HEADERS_TIMEOUT')), {
    status: 504,
    type: 'upstream_timeout',
    code: 'backend_timeout',
    message: 'the backend did not send response headers in time',
  });
  assert.deepEqual(mapError(codedError('UND_ERR_BODY_TIMEOUT')), {
    status: 504,
    type: 'upstream_timeout',
    code: 'backend_timeout',
    message: 'the backend went silent for longer than the body timeout',
  });
});

test('an unreachable backend maps to 502 backend_unreachable', () => {
  for (const code of ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']) {
    assert.deepEqual(mapError(codedError(code)), {
      status: 502,
      type: 'upstream_error',
      code: 'backend_unreachable',
      message: `the backend is unreachable (${code})`,
    });
  }
});

test('socket errors and unknown codes map to 502 backend_error', () => {
  for (const code of ['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'SOMETHING_NEW']) {
    assert.deepEqual(mapError(codedError(code)), {
      status: 502,
      type: 'upstream_error',
      code: 'backend_error',
      message: `the backend connection failed (${code})`,
    });
  }
});

test('errors without a code and non-error values map to 502 backend_error', () => {
  const expected = { status: 502, type: 'upstream_error', code: 'backend_error', message: 'the backend connection failed' };
  for (const value of [new Error('plain'), new TypeError('t'), null, undefined, 'a string', 42, {}, [], Symbol('s')]) {
    assert.deepEqual(mapError(value), expected, String(value));
  }
});

test('a code given on a plain object is honoured', () => {
  assert.equal(mapError({ code: 'ECONNREFUSED' }).status, 502);
  assert.equal(mapError({ code: 'ECONNREFUSED' }).code, 'backend_unreachable');
  assert.equal(mapError({ code: 'UND_ERR_HEADERS_TIMEOUT' }).status, 504);
});

test('ProxyError codes map to their statuses and keep their message', () => {
  assert.deepEqual(mapError(new ProxyError(ERR_BODY_TOO_LARGE, 'the request body is larger than 10 bytes')), {
    status: 413,
    type: 'invalid_request_error',
    code: 'request_too_large',
    message: 'the request body is larger than 10 bytes',
  });
  assert.deepEqual(mapError(new ProxyError(ERR_BAD_REQUEST_BODY, 'bad body')), {
    status: 400,
    type: 'invalid_request_error',
    code: 'bad_request_body',
    message: 'bad body',
  });
});

test('a client abort, ours or undici’s, maps to 499', () => {
  const expected = { status: 499, type: 'client_closed', code: 'client_closed', message: 'the client closed the connection' };
  assert.equal(STATUS_CLIENT_CLOSED, 499);
  assert.deepEqual(mapError(new ProxyError(ERR_CLIENT_ABORTED, 'gone')), expected);
  assert.deepEqual(mapError(codedError('UND_ERR_ABORTED')), expected);
});

test('ProxyError carries its code', () => {
  const err = new ProxyError(ERR_BODY_TOO_LARGE, 'm');
  assert.ok(err instanceof Error);
  assert.equal(err.code, 'ERR_BODY_TOO_LARGE');
  assert.equal(err.message, 'm');
  assert.equal(ERR_CLIENT_ABORTED, 'ERR_CLIENT_ABORTED');
  assert.equal(ERR_BAD_REQUEST_BODY, 'ERR_BAD_REQUEST_BODY');
});

test('errorBody is the OpenAI error envelope, with the type from the catalog', () => {
  assert.equal(
    errorBody('backend_unreachable', 'the backend is unreachable (ECONNREFUSED)'),
    '{"error":{"message":"the backend is unreachable (ECONNREFUSED)","type":"upstream_error","code":"backend_unreachable"}}',
  );
  assert.equal(
    errorBody('bad_request', 'quote " and \n newline'),
    '{"error":{"message":"quote \\" and \\n newline","type":"invalid_request_error","code":"bad_request"}}',
  );
  const mapped = mapError(codedError('UND_ERR_BODY_TIMEOUT'));
  assert.deepEqual(JSON.parse(errorBody('backend_timeout', mapped.message)), {
    error: { message: mapped.message, type: 'upstream_timeout', code: 'backend_timeout' },
  });
});

test('every catalog entry has a status the proxy may send and an OpenAI error type', () => {
  for (const [code, entry] of Object.entries(ERROR_CATALOG)) {
    assert.ok(entry.status >= 400 && entry.status <= 599, code);
    assert.match(entry.type, /^[a-z_]+$/, code);
  }
  assert.equal(ERROR_CATALOG.model_not_found.status, 404);
  assert.equal(ERROR_CATALOG.no_backend.status, 502);
});
