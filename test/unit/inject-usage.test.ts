import assert from 'node:assert/strict';
import { test } from 'node:test';
import { injectUsageRequest, needsUsageInjection } from '../../src/llm/inject-usage.js';
import { inspectCompletionRequest } from '../../src/llm/inspect-request.js';

const INSERTED = '"stream_options":{"include_usage":true},';
const needs = (text: string) => needsUsageInjection(inspectCompletionRequest(Buffer.from(text, 'utf8')));
const inject = (text: string | Buffer) => {
  const body = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  return injectUsageRequest(body, inspectCompletionRequest(body));
};

test('needsUsageInjection: a stream that did not ask for usage', () => {
  assert.equal(needs('{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}'), true);
  assert.equal(needs('{"model":"m","stream":true,"stream_options":{"include_usage":false}}'), true);
  assert.equal(needs('{"model":"m","stream":true,"stream_options":{}}'), true);
  assert.equal(needs('{"model":"m","stream":true,"stream_options":null}'), true);
  assert.equal(needs('{"model":"m","stream":true,"stream_options":{"continuous_usage_stats":true}}'), true);
  assert.equal(needs('{"model":"m","stream":true,"stream_options":{"include_usage":"true"}}'), true);
});

test('needsUsageInjection: false when usage was asked for, or not streaming, or not JSON', () => {
  assert.equal(needs('{"model":"m","stream":true,"stream_options":{"include_usage":true}}'), false);
  assert.equal(needs('{"model":"m","stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":true}}'), false);
  assert.equal(needs('{"model":"m","stream":false}'), false);
  assert.equal(needs('{"model":"m"}'), false);
  assert.equal(needs('{"model":"m","stream":"true"}'), false);
  assert.equal(needs('{"model":"m","stream":true'), false);
  assert.equal(needs('not json'), false);
  assert.equal(needs(''), false);
  assert.equal(needs('[{"stream":true}]'), false);
});

test('without stream_options the flag is inserted after the first brace, every other byte unchanged', () => {
  const bodies = [
    '{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}',
    '{"stream":true}',
    ' \r\n\t{"model":"m","stream":true,"prompt":"x"}\n',
    '{\n  "model" : "m",\n  "stream" : true,\n  "prompt" : "once {upon} a time"\n}\n',
    '{"model":"m","stream":true,"messages":[{"role":"user","content":"caf\u00e9 \u4e2d\u6587 \ud83d\ude00 \\u00e9 \\"q\\""}]}',
    '{"model":"m","stream":true,"prompt":"x","n":2,"max_tokens":16,"logit_bias":{"50256":-100}}',
  ];
  for (const text of bodies) {
    const body = Buffer.from(text, 'utf8');
    const out = inject(body);
    const brace = body.indexOf('{');
    const expected = Buffer.concat([body.subarray(0, brace + 1), Buffer.from(INSERTED), body.subarray(brace + 1)]);
    assert.deepEqual(out, expected, text);
    assert.equal(out.toString('utf8'), text.slice(0, text.indexOf('{') + 1) + INSERTED + text.slice(text.indexOf('{') + 1));
    const parsed = JSON.parse(out.toString('utf8'));
    assert.deepEqual(parsed.stream_options, { include_usage: true });
    assert.deepEqual({ ...parsed, stream_options: undefined }, { ...JSON.parse(text), stream_options: undefined });
    // The rewritten body no longer needs injection.
    assert.equal(needsUsageInjection(inspectCompletionRequest(out)), false);
  }
});

test('unicode text is preserved byte for byte', () => {
  const text = '{"model":"m","stream":true,"prompt":"\u00e9\u4e2d\ud83d\ude00\u200b"}';
  const body = Buffer.from(text, 'utf8');
  const out = inject(body);
  assert.equal(out.length, body.length + Buffer.byteLength(INSERTED));
  assert.deepEqual(out.subarray(1 + Buffer.byteLength(INSERTED)), body.subarray(1));
  assert.equal(JSON.parse(out.toString('utf8')).prompt, '\u00e9\u4e2d\ud83d\ude00\u200b');
});

test('an empty object gets the field without a trailing comma', () => {
  for (const text of ['{}', ' {}', '{ }', '{\n}\n']) {
    const out = inject(text).toString('utf8');
    assert.deepEqual(JSON.parse(out), { stream_options: { include_usage: true } }, JSON.stringify(text));
  }
  assert.equal(inject('{}').toString(), '{"stream_options":{"include_usage":true}}');
});

test('with stream_options, include_usage is set and other options are kept', () => {
  const text = '{"model":"m","stream":true,"stream_options":{"include_usage":false,"continuous_usage_stats":true},"prompt":"x"}';
  const out = inject(text);
  const parsed = JSON.parse(out.toString('utf8'));
  assert.deepEqual(parsed, {
    model: 'm',
    stream: true,
    stream_options: { include_usage: true, continuous_usage_stats: false },
    prompt: 'x',
  });
  assert.equal(inspectCompletionRequest(out).includeUsage, true);
});

test('stream_options that is not an object is replaced', () => {
  for (const value of ['null', '{}', '[]', '"x"', '1', 'true']) {
    const text = `{"model":"m","stream":true,"stream_options":${value}}`;
    const parsed = JSON.parse(inject(text).toString('utf8'));
    assert.deepEqual(parsed, { model: 'm', stream: true, stream_options: { include_usage: true } }, value);
  }
});

test('the output always parses as JSON', () => {
  const bodies = [
    '{"stream":true}',
    '{"stream":true,"stream_options":{"include_usage":false}}',
    '  {"stream" : true , "messages" : [ { "role" : "user" , "content" : "{\\"a\\":1}" } ] }  ',
    '{"stream":true,"prompt":["a","b"],"stop":["\\n","}"]}',
    '{"stream":true,"stream_options":{"include_usage":null,"x":{"y":[1,2]}}}',
    '{"stream":true,"prompt":"\u4e2d"}',
  ];
  for (const text of bodies) {
    const out = inject(text);
    const parsed = JSON.parse(out.toString('utf8'));
    assert.equal(parsed.stream_options.include_usage, true, text);
    assert.equal(parsed.stream, true, text);
  }
});

test('continuous_usage_stats stays off when the client had usage off', () => {
  const body = Buffer.from('{"model":"m","stream":true,"stream_options":{"include_usage":false,"continuous_usage_stats":true}}');
  const out = JSON.parse(injectUsageRequest(body, inspectCompletionRequest(body)).toString());
  assert.deepEqual(out.stream_options, { include_usage: true, continuous_usage_stats: false });
});
