import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findValue, hasNonEmptyString, hasValueOpening } from '../../src/llm/json-bytes.js';

const key = (name: string) => Buffer.from(`"${name}"`);
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;

/** findValue over the whole buffer, returning the value's text from its first byte (or null). */
const valueAt = (json: string, name: string): string | null => {
  const buf = Buffer.from(json);
  const at = findValue(buf, key(name), 0, buf.length);
  return at === -1 ? null : buf.subarray(at).toString();
};

test('findValue returns the index of the first byte of the value', () => {
  const buf = Buffer.from('{"a":1,"b":"two","c":{"d":[]}}');
  assert.equal(findValue(buf, key('a'), 0, buf.length), 5);
  assert.equal(findValue(buf, key('b'), 0, buf.length), 11);
  assert.equal(String.fromCharCode(buf[findValue(buf, key('c'), 0, buf.length)] as number), '{');
  assert.equal(String.fromCharCode(buf[findValue(buf, key('d'), 0, buf.length)] as number), '[');
  assert.equal(findValue(buf, key('missing'), 0, buf.length), -1);
  assert.equal(findValue(Buffer.alloc(0), key('a'), 0, 0), -1);
});

test('findValue skips whitespace around the colon', () => {
  assert.equal(valueAt('{"content": " x"}', 'content'), '" x"}');
  assert.equal(valueAt('{"content" :" x"}', 'content'), '" x"}');
  assert.equal(valueAt('{"content"  :  " x"}', 'content'), '" x"}');
  assert.equal(valueAt('{"content"\t:\t" x"}', 'content'), '" x"}');
  assert.equal(valueAt('{\r\n  "content"\r\n  :\r\n  " x"\r\n}', 'content'), '" x"\r\n}');
  assert.equal(valueAt('{\n  "usage": {\n    "prompt_tokens": 5\n  }\n}', 'usage'), '{\n    "prompt_tokens": 5\n  }\n}');
});

test('findValue ignores the key text when it is not followed by a colon', () => {
  // A string value that equals the key name.
  assert.equal(valueAt('{"role":"content"}', 'content'), null);
  assert.equal(valueAt('{"list":["content","content"]}', 'content'), null);
  // The first occurrence is a value, the second a key.
  assert.equal(valueAt('{"kind":"content","content":"yes"}', 'content'), '"yes"}');
  // Longer keys that merely start or end with the name.
  assert.equal(valueAt('{"content_type":"x"}', 'content'), null);
  assert.equal(valueAt('{"reasoning_content":"x"}', 'content'), null);
  assert.equal(valueAt('{"text_offset":[0]}', 'text'), null);
});

test('findValue is not fooled by escaped keys inside string values', () => {
  const json = JSON.stringify({ function: { arguments: '{"content":"fake","usage":{}}' }, content: '' });
  assert.match(json, /\\"content\\":\\"fake\\"/);
  assert.equal(valueAt(json, 'content'), '""}');
  assert.equal(valueAt(json, 'usage'), null);
  const onlyEscaped = JSON.stringify({ text: 'he wrote "content": "x" and "usage": {"a":1}' });
  assert.equal(valueAt(onlyEscaped, 'content'), null);
  assert.equal(valueAt(onlyEscaped, 'usage'), null);
});

test('findValue honours start and end', () => {
  const json = '{"a":1}{"a":2}';
  const buf = Buffer.from(json);
  assert.equal(findValue(buf, key('a'), 0, buf.length), 5);
  assert.equal(findValue(buf, key('a'), 1, buf.length), 5);
  assert.equal(findValue(buf, key('a'), 2, buf.length), 12);
  assert.equal(findValue(buf, key('a'), 7, buf.length), 12);
  assert.equal(findValue(buf, key('a'), 8, buf.length), 12);
  assert.equal(findValue(buf, key('a'), 9, buf.length), -1);
  // A match past end is not found.
  assert.equal(findValue(buf, key('a'), 2, 7), -1);
  assert.equal(findValue(buf, key('a'), 2, 11), -1);
  // The key must lie entirely within the range, and so must the colon and the value.
  assert.equal(findValue(buf, key('a'), 0, 3), -1);
  assert.equal(findValue(buf, key('a'), 0, 4), -1);
  assert.equal(findValue(buf, key('a'), 0, 5), -1);
  assert.equal(findValue(buf, key('a'), 0, 6), 5);
  const spaced = Buffer.from('{"a" :  1}');
  assert.equal(findValue(spaced, key('a'), 0, 5), -1);
  assert.equal(findValue(spaced, key('a'), 0, 7), -1);
  assert.equal(findValue(spaced, key('a'), 0, 8), -1);
  assert.equal(findValue(spaced, key('a'), 0, 9), 8);
});

test('hasNonEmptyString: a string value with at least one character', () => {
  const has = (json: string, name: string) => {
    const buf = Buffer.from(json);
    return hasNonEmptyString(buf, key(name), 0, buf.length);
  };
  assert.equal(has('{"content":"x"}', 'content'), true);
  assert.equal(has('{"content": " x"}', 'content'), true);
  assert.equal(has('{"content" : "\\n"}', 'content'), true);
  assert.equal(has('{"content":"\\""}', 'content'), true);
  assert.equal(has('{"content":"\u00e9\u4e2d"}', 'content'), true);
  assert.equal(has('{"content":""}', 'content'), false);
  assert.equal(has('{"content": ""}', 'content'), false);
  assert.equal(has('{"content":null}', 'content'), false);
  assert.equal(has('{"content":[]}', 'content'), false);
  assert.equal(has('{"content":["x"]}', 'content'), false);
  assert.equal(has('{"content":1}', 'content'), false);
  assert.equal(has('{"role":"assistant"}', 'content'), false);
  // A later occurrence counts when an earlier one is empty.
  assert.equal(has('{"logprobs":{"content":[]},"delta":{"content":""}}', 'content'), false);
  assert.equal(has('{"logprobs":{"content":null},"delta":{"content":"hi"}}', 'content'), true);
  assert.equal(has('{"a":{"content":""},"b":{"content":"x"}}', 'content'), true);
  // Escaped key text inside a value does not count.
  assert.equal(has(JSON.stringify({ content: '', note: '"content":"x"' }), 'content'), false);
  assert.equal(has(JSON.stringify({ content: null, note: '{"content": "x"}' }), 'content'), false);
});

test('hasNonEmptyString honours start and end', () => {
  const buf = Buffer.from('{"content":""}{"content":"x"}');
  const second = buf.indexOf('{', 1);
  assert.equal(hasNonEmptyString(buf, key('content'), 0, buf.length), true);
  assert.equal(hasNonEmptyString(buf, key('content'), 0, second), false);
  assert.equal(hasNonEmptyString(buf, key('content'), second, buf.length), true);
  // The value's first character must itself be within the range.
  const opening = buf.indexOf('"x"');
  assert.equal(hasNonEmptyString(buf, key('content'), second, opening + 1), false);
  assert.equal(hasNonEmptyString(buf, key('content'), second, opening + 2), true);
});

test('hasValueOpening: object and non-empty array openings', () => {
  const has = (json: string, name: string, opening: number, nonEmpty = false) => {
    const buf = Buffer.from(json);
    return hasValueOpening(buf, key(name), opening, 0, buf.length, nonEmpty);
  };
  assert.equal(has('{"usage":{"prompt_tokens":1}}', 'usage', OPEN_BRACE), true);
  assert.equal(has('{"usage": {"prompt_tokens":1}}', 'usage', OPEN_BRACE), true);
  assert.equal(has('{"usage" :\n {}}', 'usage', OPEN_BRACE), true);
  assert.equal(has('{"usage":{}}', 'usage', OPEN_BRACE, true), false);
  assert.equal(has('{"usage":{ }}', 'usage', OPEN_BRACE, true), false);
  assert.equal(has('{"usage":{"a":1}}', 'usage', OPEN_BRACE, true), true);
  assert.equal(has('{"usage":null}', 'usage', OPEN_BRACE), false);
  assert.equal(has('{"usage": null}', 'usage', OPEN_BRACE), false);
  assert.equal(has('{"usage":[]}', 'usage', OPEN_BRACE), false);

  assert.equal(has('{"tool_calls":[{"index":0}]}', 'tool_calls', OPEN_BRACKET, true), true);
  assert.equal(has('{"tool_calls": [ {"index":0} ]}', 'tool_calls', OPEN_BRACKET, true), true);
  assert.equal(has('{"tool_calls":[]}', 'tool_calls', OPEN_BRACKET, true), false);
  assert.equal(has('{"tool_calls": [ ]}', 'tool_calls', OPEN_BRACKET, true), false);
  assert.equal(has('{"tool_calls":[\n]}', 'tool_calls', OPEN_BRACKET, true), false);
  assert.equal(has('{"tool_calls":[]}', 'tool_calls', OPEN_BRACKET), true);
  assert.equal(has('{"tool_calls":null}', 'tool_calls', OPEN_BRACKET, true), false);
  // A later occurrence counts when an earlier one does not match.
  assert.equal(has('{"a":{"tool_calls":[]},"b":{"tool_calls":[1]}}', 'tool_calls', OPEN_BRACKET, true), true);
  assert.equal(has('{"a":{"usage":null},"usage":{"x":1}}', 'usage', OPEN_BRACE), true);
  // Escaped key text inside a value does not count.
  assert.equal(has(JSON.stringify({ usage: null, text: '"usage":{"a":1}' }), 'usage', OPEN_BRACE), false);
  assert.equal(has(JSON.stringify({ text: '"tool_calls":[{"index":0}]' }), 'tool_calls', OPEN_BRACKET, true), false);
});

test('hasValueOpening honours start and end', () => {
  const buf = Buffer.from('{"usage":null}{"usage":{"a":1}}');
  const second = buf.indexOf('{', 1);
  assert.equal(hasValueOpening(buf, key('usage'), OPEN_BRACE, 0, buf.length), true);
  assert.equal(hasValueOpening(buf, key('usage'), OPEN_BRACE, 0, second), false);
  assert.equal(hasValueOpening(buf, key('usage'), OPEN_BRACE, second, buf.length), true);
  // The opening byte past end is not seen.
  const opening = buf.indexOf('{"a"');
  assert.equal(hasValueOpening(buf, key('usage'), OPEN_BRACE, second, opening), false);
  assert.equal(hasValueOpening(buf, key('usage'), OPEN_BRACE, second, opening + 1), true);
  // For nonEmpty, the first element must be inside the range too.
  assert.equal(hasValueOpening(buf, key('usage'), OPEN_BRACE, second, opening + 1, true), false);
  assert.equal(hasValueOpening(buf, key('usage'), OPEN_BRACE, second, opening + 2, true), true);
});
