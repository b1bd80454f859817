import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { AccessLog, type AccessRecord } from '../../src/worker/access-log.js';

function capture(level: string) {
  const lines: string[] = [];
  const log = pino(
    { level, base: { pid: process.pid, role: 'worker', worker: 3 }, formatters: { level: (label) => ({ level: label }) } },
    {
      write: (line: string) => lines.push(line),
    },
  );
  return { lines, log };
}

const RECORD: AccessRecord = {
  key: null,
  requestId: 'id-"quoted"',
  method: 'POST',
  path: '/v1/chat/completions?x="\\\n\u0001',
  status: 200,
  backend: 'http://127.0.0.1:8000',
  endpoint: '/v1/chat/completions',
  ttfbMs: 1.23456,
  durationMs: 20.0004,
  bytesIn: 12,
  bytesOut: 345,
  stream: true,
  model: 'llama "3"',
  promptTokens: 5,
  completionTokens: 7,
  ttftMs: 3.5,
  tpotMs: null,
  outcome: 'completed',
  error: null,
  attempts: null,
};

test('the access line is one JSON object per line, shaped like every other pino line', () => {
  const { lines, log } = capture('info');
  new AccessLog(log).write(RECORD);
  log.info({ other: 1 }, 'another line');
  assert.equal(lines.length, 2);
  assert.ok(lines[0]?.endsWith('}\n'));
  const access = JSON.parse(lines[0] as string);
  const other = JSON.parse(lines[1] as string);
  assert.equal(access.level, 'info');
  assert.equal(access.msg, 'access');
  assert.equal(typeof access.time, 'string');
  assert.ok(!Number.isNaN(Date.parse(access.time)));
  // Same bindings as the logger's own lines.
  for (const key of ['pid', 'role', 'worker']) assert.equal(access[key], other[key]);
  assert.deepEqual(
    {
      request_id: access.request_id,
      path: access.path,
      model: access.model,
      ttfb_ms: access.ttfb_ms,
      duration_ms: access.duration_ms,
      tpot_ms: access.tpot_ms,
      stream: access.stream,
      prompt_tokens: access.prompt_tokens,
      outcome: access.outcome,
    },
    {
      request_id: 'id-"quoted"',
      path: '/v1/chat/completions?x="\\\n\u0001',
      model: 'llama "3"',
      ttfb_ms: 1.235,
      duration_ms: 20,
      tpot_ms: null,
      stream: true,
      prompt_tokens: 5,
      outcome: 'completed',
    },
  );
  assert.equal('error' in access, false);
});

test('an error is added when there is one; nothing is written below level info', () => {
  const { lines, log } = capture('info');
  new AccessLog(log).write({ ...RECORD, error: 'UND_ERR_SOCKET', bytesIn: null, model: null });
  const line = JSON.parse(lines[0] as string);
  assert.equal(line.error, 'UND_ERR_SOCKET');
  assert.equal(line.bytes_in, null);
  assert.equal(line.model, null);
  const quiet = capture('warn');
  new AccessLog(quiet.log).write(RECORD);
  assert.equal(quiet.lines.length, 0);
});

test("a request that presented a named key carries the key's name, never the key", () => {
  const { lines, log } = capture('info');
  new AccessLog(log).write({ ...RECORD, key: 'team-a' });
  new AccessLog(log).write(RECORD);
  const [named, anonymous] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.equal(named?.key, 'team-a');
  assert.equal(anonymous !== undefined && 'key' in anonymous, false);
});
