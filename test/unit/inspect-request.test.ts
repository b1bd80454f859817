import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inspectCompletionRequest } from '../../src/llm/inspect-request.js';

const pick = ({ model, stream }: { model: string | null; stream: boolean }) => ({ model, stream });
const inspect = (text: string) => pick(inspectCompletionRequest(Buffer.from(text, 'utf8')));
const UNKNOWN = { model: null, stream: false };

test('model and stream are read', () => {
  assert.deepEqual(inspect('{"model":"llama-3","stream":true,"messages":[]}'), { model: 'llama-3', stream: true });
  assert.deepEqual(inspect('{"model":"llama-3","stream":false}'), { model: 'llama-3', stream: false });
  assert.deepEqual(inspect('{"model":"m"}'), { model: 'm', stream: false });
  assert.deepEqual(inspect('{"stream":true}'), { model: null, stream: true });
  assert.deepEqual(inspect('{}'), UNKNOWN);
  assert.deepEqual(inspect(' \n{"model" : "spaced" , "stream" : true}\n '), { model: 'spaced', stream: true });
});

test('stream is true only for the JSON value true', () => {
  for (const value of ['"true"', '1', '"yes"', '{}', '[]', 'null', '{"include_usage":true}']) {
    assert.deepEqual(inspect(`{"model":"m","stream":${value}}`), { model: 'm', stream: false }, value);
  }
});

test('a body that is not a JSON object yields nothing', () => {
  for (const body of ['', 'not json', '{"model":"m"', '[{"model":"m","stream":true}]', '[]', 'null', '"model"', '42', 'true', '\u0000']) {
    assert.deepEqual(inspect(body), UNKNOWN, JSON.stringify(body));
  }
  assert.deepEqual(pick(inspectCompletionRequest(Buffer.alloc(0))), UNKNOWN);
  assert.deepEqual(pick(inspectCompletionRequest(Buffer.from([0xff, 0xfe, 0x00]))), UNKNOWN);
  assert.equal(inspectCompletionRequest(Buffer.from('[]')).json, null);
});

test('a model longer than 256 characters is cut to 256', () => {
  const long = 'm'.repeat(1000);
  assert.deepEqual(inspect(JSON.stringify({ model: long, stream: true })), { model: 'm'.repeat(256), stream: true });
  assert.equal(inspect(JSON.stringify({ model: 'x'.repeat(256) })).model, 'x'.repeat(256));
  assert.equal(inspect(JSON.stringify({ model: 'x'.repeat(257) })).model, 'x'.repeat(256));
});

test('a non-string model is null', () => {
  for (const value of ['42', 'null', 'true', '["m"]', '{"name":"m"}']) {
    assert.deepEqual(inspect(`{"model":${value},"stream":true}`), { model: null, stream: true }, value);
  }
});

test('the empty model string is kept as is', () => {
  assert.deepEqual(inspect('{"model":""}'), { model: '', stream: false });
});

test('non-ASCII models survive', () => {
  assert.equal(inspect(JSON.stringify({ model: 'modèle-日本' })).model, 'modèle-日本');
});

test('the last duplicate key wins, as in JSON.parse', () => {
  assert.deepEqual(inspect('{"model":"a","model":"b","stream":true,"stream":false}'), { model: 'b', stream: false });
});

test('the result for an unknown body is frozen', () => {
  const a = inspectCompletionRequest(Buffer.from('nope'));
  assert.equal(Object.isFrozen(a), true);
});

test('stream_options.include_usage is read', () => {
  const read = (text: string) => inspectCompletionRequest(Buffer.from(text)).includeUsage;
  assert.equal(read('{"stream":true,"stream_options":{"include_usage":true},"n":3}'), true);
  assert.equal(read('{"stream":true,"stream_options":{"include_usage":false}}'), false);
  assert.equal(read('{"stream":true,"stream_options":null,"n":0}'), false);
  assert.equal(read('{"n":2.5,"stream_options":{"include_usage":"yes"}}'), false);
  assert.deepEqual(inspectCompletionRequest(Buffer.from('{"a":1}')).json, { a: 1 });
});
