import assert from 'node:assert/strict';
import { test } from 'node:test';
import { closingQuoteBefore, isKeyAt, isNonEmptyString, opensWith, valueAfter } from '../../src/llm/json-text.js';

/** JSON text as the scanner hands it over: one latin1 char per byte of its UTF-8. */
const latin1 = (json: string): string => Buffer.from(json).toString('latin1');
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;

/** Every key the colons of `json` end, in order (the text between its quotes; null where no quote ends before the colon). */
function keysOf(json: string): Array<string | null> {
  const text = latin1(json);
  const keys: Array<string | null> = [];
  for (let colon = text.indexOf(':'); colon !== -1; colon = text.indexOf(':', colon + 1)) {
    const close = closingQuoteBefore(text, colon);
    keys.push(close === -1 ? null : text.slice(text.lastIndexOf('"', close - 1) + 1, close));
  }
  return keys;
}

/** The value's text after the key `name` (the first such key), or null. */
function valueText(json: string, name: string): string | null {
  const text = latin1(json);
  for (let colon = text.indexOf(':'); colon !== -1; colon = text.indexOf(':', colon + 1)) {
    const close = closingQuoteBefore(text, colon);
    if (close === -1 || !isKeyAt(text, `"${name}"`, close)) continue;
    const value = valueAfter(text, colon);
    return value === -1 ? null : Buffer.from(text.slice(value), 'latin1').toString();
  }
  return null;
}

test('closingQuoteBefore finds the quote that ends a key, across whitespace', () => {
  assert.deepEqual(keysOf('{"a":1,"b":"two","c":{"d":[]}}'), ['a', 'b', 'c', 'd']);
  assert.deepEqual(keysOf('{"a" :1,"b"\t:2,"c"\r\n  :3}'), ['a', 'b', 'c']);
  // Colons that no key ends: inside a string value, after a number, at the start.
  assert.deepEqual(keysOf('{"t":"12:30"}'), ['t', null]);
  assert.deepEqual(keysOf(':{"a":1}'), [null, 'a']);
  assert.equal(closingQuoteBefore(' :', 1), -1);
});

test('isKeyAt matches the whole quoted key, never a longer key that ends like it', () => {
  const text = '{"reasoning_content":"x","content":"y","text_offset":[0],"xtext":1}';
  const closes = [...text.matchAll(/":/g)].map((m) => m.index as number);
  assert.deepEqual(
    closes.map((close) => ['"content"', '"reasoning_content"', '"text"', '"text_offset"'].filter((key) => isKeyAt(text, key, close))),
    [['"reasoning_content"'], ['"content"'], ['"text_offset"'], []],
  );
  // A key that would start before the text.
  assert.equal(isKeyAt('t":', '"content"', 1), false);
});

test('a key is found only where a colon follows it: text inside values is not a key', () => {
  assert.equal(valueText('{"role":"content"}', 'content'), null);
  assert.equal(valueText('{"list":["content","content"]}', 'content'), null);
  assert.equal(valueText('{"kind":"content","content":"yes"}', 'content'), '"yes"}');
  assert.equal(valueText('{"content_type":"x"}', 'content'), null);
  assert.equal(valueText('{"reasoning_content":"x"}', 'content'), null);
  // Escaped key text inside string values: the quotes before the colon are escaped.
  const json = JSON.stringify({ function: { arguments: '{"content":"fake","usage":{}}' }, content: '' });
  assert.match(json, /\\"content\\":\\"fake\\"/);
  assert.equal(valueText(json, 'content'), '""}');
  assert.equal(valueText(json, 'usage'), null);
  const onlyEscaped = JSON.stringify({ text: 'he wrote "content": "x" and "usage": {"a":1}' });
  assert.equal(valueText(onlyEscaped, 'content'), null);
  assert.equal(valueText(onlyEscaped, 'usage'), null);
});

test('valueAfter skips whitespace after the colon; none at the end of the text', () => {
  assert.equal(valueText('{"content": " x"}', 'content'), '" x"}');
  assert.equal(valueText('{"content"  :  " x"}', 'content'), '" x"}');
  assert.equal(valueText('{"content"\t:\t" x"}', 'content'), '" x"}');
  assert.equal(valueText('{\r\n  "content"\r\n  :\r\n  " x"\r\n}', 'content'), '" x"\r\n}');
  assert.equal(valueText('{\n  "usage": {\n    "prompt_tokens": 5\n  }\n}', 'usage'), '{\n    "prompt_tokens": 5\n  }\n}');
  assert.equal(valueAfter('{"a":', 4), -1);
  assert.equal(valueAfter('{"a": \n', 4), -1);
});

test('isNonEmptyString: a string value with at least one char', () => {
  const has = (json: string) => {
    const text = latin1(json);
    return isNonEmptyString(text, valueAfter(text, text.indexOf(':')));
  };
  assert.equal(has('{"content":"x"}'), true);
  assert.equal(has('{"content": " x"}'), true);
  assert.equal(has('{"content" : "\\n"}'), true);
  assert.equal(has('{"content":"\\""}'), true);
  assert.equal(has('{"content":"\u00e9\u4e2d"}'), true);
  assert.equal(has('{"content":""}'), false);
  assert.equal(has('{"content": ""}'), false);
  assert.equal(has('{"content":null}'), false);
  assert.equal(has('{"content":[]}'), false);
  assert.equal(has('{"content":["x"]}'), false);
  assert.equal(has('{"content":1}'), false);
  // The char after the opening quote must be in the text.
  assert.equal(isNonEmptyString('{"content":"', 11), false);
});

test('opensWith: object and non-empty array openings', () => {
  const opens = (json: string, opening: number, nonEmpty = false) => {
    const text = latin1(json);
    return opensWith(text, valueAfter(text, text.indexOf(':')), opening, nonEmpty);
  };
  assert.equal(opens('{"usage":{"prompt_tokens":1}}', OPEN_BRACE), true);
  assert.equal(opens('{"usage": {"prompt_tokens":1}}', OPEN_BRACE), true);
  assert.equal(opens('{"usage" :\n {}}', OPEN_BRACE), true);
  assert.equal(opens('{"usage":{}}', OPEN_BRACE, true), false);
  assert.equal(opens('{"usage":{ }}', OPEN_BRACE, true), false);
  assert.equal(opens('{"usage":{"a":1}}', OPEN_BRACE, true), true);
  assert.equal(opens('{"usage":null}', OPEN_BRACE), false);
  assert.equal(opens('{"usage":[]}', OPEN_BRACE), false);
  assert.equal(opens('{"tool_calls":[{"index":0}]}', OPEN_BRACKET, true), true);
  assert.equal(opens('{"tool_calls": [ {"index":0} ]}', OPEN_BRACKET, true), true);
  assert.equal(opens('{"tool_calls":[]}', OPEN_BRACKET, true), false);
  assert.equal(opens('{"tool_calls": [ ]}', OPEN_BRACKET, true), false);
  assert.equal(opens('{"tool_calls":[\n]}', OPEN_BRACKET, true), false);
  assert.equal(opens('{"tool_calls":[]}', OPEN_BRACKET), true);
  assert.equal(opens('{"tool_calls":null}', OPEN_BRACKET, true), false);
  // For nonEmpty, the first element must be in the text.
  assert.equal(opens('{"tool_calls":[', OPEN_BRACKET, true), false);
  assert.equal(opens('{"tool_calls":[ ', OPEN_BRACKET, true), false);
  assert.equal(opens('{"tool_calls":[{', OPEN_BRACKET, true), true);
});
