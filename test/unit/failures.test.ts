import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OUTCOMES } from '../../src/llm/completion-tracker.js';
import { RETRY_REASONS } from '../../src/metrics/request-recorder.js';
import { ERROR_CATALOG } from '../../src/shared/error-catalog.js';
import {
  ERR_BACKEND_REMOVED,
  ERR_BAD_REQUEST_BODY,
  ERR_BODY_TOO_LARGE,
  ERR_CLIENT_ABORTED,
  ERR_DRAIN_DEADLINE,
  ERR_RETRY_ELSEWHERE,
  ProxyError,
} from '../../src/shared/proxy-error.js';
import { answerFor, classifyError, classifyStatus, FAILURES, type FailureKind } from '../../src/worker/failures.js';

const coded = (code: string): Error => Object.assign(new Error(`raw ${code}`), { code });

/**
 * The whole table, row by row: what each kind of failure means for the client (status, or the backend's own
 * head relayed), the backend (charged toward --max-fails or not), the request (retried elsewhere and as what),
 * the stream outcome, and the log. A change to any cell must change this test too.
 */
const EXPECTED: Record<
  FailureKind,
  [by: string, status: number | null, charges: boolean, retry: string | null, outcome: string | null, warns: boolean]
> = {
  unreachable: ['backend', 502, true, 'connect', 'upstream_error', true],
  connect_timeout: ['backend', 504, true, 'connect', 'timeout', true],
  reset: ['backend', 502, true, 'reset', 'upstream_error', true],
  headers_timeout: ['backend', 504, true, null, 'timeout', true],
  body_timeout: ['backend', 504, true, null, 'timeout', true],
  broken: ['backend', 502, true, null, 'upstream_error', true],
  status_429: ['backend', null, false, '429', null, false],
  status_502: ['backend', null, true, '502', null, false],
  status_503: ['backend', null, true, '503', null, false],
  status_504: ['backend', null, true, '504', null, false],
  client_gone: ['client', 499, false, null, 'client_disconnect', false],
  drain_deadline: ['proxy', 503, false, null, 'proxy_cut', false],
  backend_removed: ['proxy', 502, false, null, 'proxy_cut', false],
  retry_elsewhere: ['proxy', null, false, null, null, false],
  body_too_large: ['request', 413, false, null, null, false],
  bad_body: ['request', 400, false, null, null, false],
};

test('the failure table, row by row', () => {
  assert.deepEqual(Object.keys(FAILURES).sort(), Object.keys(EXPECTED).sort(), 'every kind has its expected row');
  for (const [kind, rule] of Object.entries(FAILURES)) {
    const status = rule.answer === null ? null : ERROR_CATALOG[rule.answer].status;
    assert.deepEqual([rule.by, status, rule.chargesBackend, rule.retry, rule.outcome, rule.warns], EXPECTED[kind as FailureKind], kind);
  }
});

test('the table is consistent: only the backend is charged or warned about, retries and outcomes are known values', () => {
  for (const [kind, rule] of Object.entries(FAILURES)) {
    if (rule.chargesBackend || rule.warns) assert.equal(rule.by, 'backend', kind);
    if (rule.retry !== null) assert.ok((RETRY_REASONS as readonly string[]).includes(rule.retry), kind);
    if (rule.outcome !== null) assert.ok((OUTCOMES as readonly string[]).includes(rule.outcome), kind);
    if (rule.by !== 'backend') assert.equal(rule.retry, null, `${kind}: only a backend's failure is sent elsewhere`);
  }
});

test('every abort of the proxy’s own carries a code that counts against no backend', () => {
  for (const [code, kind] of [
    [ERR_DRAIN_DEADLINE, 'drain_deadline'],
    [ERR_BACKEND_REMOVED, 'backend_removed'],
    [ERR_RETRY_ELSEWHERE, 'retry_elsewhere'],
    [ERR_CLIENT_ABORTED, 'client_gone'],
    ['UND_ERR_DESTROYED', 'backend_removed'],
    ['UND_ERR_CLOSED', 'backend_removed'],
  ] as const) {
    assert.equal(classifyError(new ProxyError(code, 'ours')), kind, code);
    assert.equal(FAILURES[kind].chargesBackend, false, code);
  }
  // An error without a code is the backend's (undici's and the system's errors all carry one): never ours.
  assert.equal(classifyError(new Error('no code')), 'broken');
});

test('raw codes and statuses classify into their rows', () => {
  const cases: Array<[string, FailureKind]> = [
    ['ECONNREFUSED', 'unreachable'],
    ['ENOTFOUND', 'unreachable'],
    ['EAI_AGAIN', 'unreachable'],
    ['EHOSTUNREACH', 'unreachable'],
    ['ENETUNREACH', 'unreachable'],
    ['UND_ERR_CONNECT_TIMEOUT', 'connect_timeout'],
    ['UND_ERR_SOCKET', 'reset'],
    ['ECONNRESET', 'reset'],
    ['EPIPE', 'reset'],
    ['UND_ERR_HEADERS_TIMEOUT', 'headers_timeout'],
    ['UND_ERR_BODY_TIMEOUT', 'body_timeout'],
    ['UND_ERR_ABORTED', 'client_gone'],
    [ERR_BODY_TOO_LARGE, 'body_too_large'],
    [ERR_BAD_REQUEST_BODY, 'bad_body'],
    ['SOMETHING_NEW', 'broken'],
  ];
  for (const [code, kind] of cases) assert.equal(classifyError(coded(code)), kind, code);
  assert.equal(classifyStatus(429), 'status_429');
  assert.equal(classifyStatus(502), 'status_502');
  assert.equal(classifyStatus(503), 'status_503');
  assert.equal(classifyStatus(504), 'status_504');
  for (const status of [200, 204, 400, 404, 500, 501]) assert.equal(classifyStatus(status), null, String(status));
});

test('who aborted wins over what the error says: once the client has gone, any error is the client’s', () => {
  assert.equal(classifyError(coded('ECONNRESET'), true), 'client_gone');
  assert.equal(classifyError(coded('UND_ERR_SOCKET'), true), 'client_gone');
  assert.equal(classifyError(coded('ECONNRESET'), false), 'reset');
});

test('answers: the catalog code and a message naming the raw code, the error’s own message for the request’s faults', () => {
  assert.deepEqual(answerFor('unreachable', coded('ECONNREFUSED')), {
    code: 'backend_unreachable',
    message: 'the backend is unreachable (ECONNREFUSED)',
  });
  assert.deepEqual(answerFor('broken', new Error('x')), { code: 'backend_error', message: 'the backend connection failed' });
  assert.deepEqual(answerFor('body_too_large', new ProxyError(ERR_BODY_TOO_LARGE, 'larger than 10 bytes')), {
    code: 'request_too_large',
    message: 'larger than 10 bytes',
  });
  assert.equal(answerFor('status_503', null), null, 'a head that stands is relayed, not answered');
  assert.equal(answerFor('drain_deadline', new ProxyError(ERR_DRAIN_DEADLINE, 'x'))?.code, 'proxy_draining');
});
