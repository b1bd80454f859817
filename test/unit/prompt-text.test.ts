import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CompletionKind } from '../../src/llm/completion-kind.js';
import { promptText } from '../../src/llm/prompt-text.js';

const ALL = Number.POSITIVE_INFINITY;

function text(kind: CompletionKind, json: Record<string, unknown>, limit = ALL): string {
  return promptText(kind, json, limit).toString('utf8');
}

/** Little-endian uint32 bytes of each id, as the module writes token arrays. */
function tokenBytes(...ids: number[]): Buffer {
  const bytes = Buffer.alloc(ids.length * 4);
  for (const [i, id] of ids.entries()) bytes.writeUInt32LE(id, i * 4);
  return bytes;
}

test('chat: every message as a turn, role and string content, in order', () => {
  const json = {
    model: 'm',
    messages: [
      { role: 'system', content: 'Be brief.' },
      { content: 'Hello', role: 'user' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'c1', content: '42' },
    ],
  };
  assert.equal(
    text('chat', json),
    '<|im_start|>system\nBe brief.<|im_end|>\n' +
      '<|im_start|>user\nHello<|im_end|>\n' +
      '<|im_start|>assistant\n[{"function":{"arguments":"{}","name":"f"},"id":"c1","type":"function"}]<|im_end|>\n' +
      '<|im_start|>tool\n42<|im_end|>\n',
  );
});

test('chat: array content, text parts by their text and other parts by canonical JSON, joined by newlines', () => {
  const json = {
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Look:' },
          { image_url: { url: 'https://x/cat.png', detail: 'low' }, type: 'image_url' },
          { text: 'What is it?', type: 'text' },
        ],
      },
    ],
  };
  assert.equal(
    text('chat', json),
    '<|im_start|>user\nLook:\n{"image_url":{"detail":"low","url":"https://x/cat.png"},"type":"image_url"}\nWhat is it?<|im_end|>\n',
  );
});

test('chat: tool definitions come first, each as canonical JSON on its line', () => {
  const tool = {
    type: 'function',
    function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
  };
  const json = {
    messages: [{ role: 'user', content: 'Weather in Paris?' }],
    tools: [tool, { type: 'function', function: { name: 'noop' } }],
  };
  assert.equal(
    text('chat', json),
    '<|im_start|>tools\n' +
      '{"function":{"name":"get_weather","parameters":{"properties":{"city":{"type":"string"}},"type":"object"}},"type":"function"}\n' +
      '{"function":{"name":"noop"},"type":"function"}\n' +
      '<|im_end|>\n' +
      '<|im_start|>user\nWeather in Paris?<|im_end|>\n',
  );
});

test('chat: the key order inside messages, parts and tools does not change a byte', () => {
  const a = {
    tools: [{ type: 'function', function: { name: 'f', description: 'd' } }],
    messages: [{ role: 'user', name: 'ann', content: [{ type: 'image_url', image_url: { url: 'u', detail: 'auto' } }] }],
  };
  const b = {
    messages: [{ content: [{ image_url: { detail: 'auto', url: 'u' }, type: 'image_url' }], name: 'bob', role: 'user' }],
    tools: [{ function: { description: 'd', name: 'f' }, type: 'function' }],
  };
  assert.deepEqual(promptText('chat', a, ALL), promptText('chat', b, ALL));
});

test('chat: a continued conversation extends the bytes of its start', () => {
  const first = [
    { role: 'system', content: 'S' },
    { role: 'user', content: 'Q1' },
  ];
  const later = [...first, { role: 'assistant', content: 'A1' }, { role: 'user', content: 'Q2' }];
  const start = promptText('chat', { messages: first }, ALL);
  const whole = promptText('chat', { messages: later }, ALL);
  assert.deepEqual(whole.subarray(0, start.length), start);
  assert.ok(whole.length > start.length);
});

test('text: a string prompt as is; token ids as 4 bytes each, little-endian', () => {
  assert.equal(text('text', { prompt: 'Once upon a time' }), 'Once upon a time');
  assert.deepEqual(promptText('text', { prompt: [1, 258, 65_536, 0xffff_ffff] }, ALL), tokenBytes(1, 258, 65_536, 0xffff_ffff));
});

test('text: a batch by its first prompt, strings or token arrays', () => {
  assert.equal(text('text', { prompt: ['first prompt', 'second'] }), 'first prompt');
  assert.deepEqual(
    promptText(
      'text',
      {
        prompt: [
          [7, 8],
          [9, 10],
        ],
      },
      ALL,
    ),
    tokenBytes(7, 8),
  );
});

test('a limit gives exactly the first bytes of the whole, including cuts inside a message or a character', () => {
  const bodies: Array<[CompletionKind, Record<string, unknown>]> = [
    [
      'chat',
      {
        tools: [{ type: 'function', function: { name: 'f', description: 'quote " and emoji 😀 in a tool' } }],
        messages: [
          { role: 'system', content: 'Système: réponds en français 😀 — merci' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'été' },
              { type: 'input_audio', input_audio: { data: 'QUJD', format: 'wav' } },
            ],
          },
          'not a message',
        ],
      },
    ],
    ['text', { prompt: 'naïve café 😀 end' }],
    ['text', { prompt: [1, 2, 'x', 3.5, -1, 70_000, { a: 1 }] }],
  ];
  for (const [kind, json] of bodies) {
    const whole = promptText(kind, json, ALL);
    for (let limit = 0; limit <= whole.length + 2; limit++) {
      assert.deepEqual(promptText(kind, json, limit), whole.subarray(0, limit), `${kind} limit ${limit}`);
    }
  }
});

test('a limit inside a long message stops there', () => {
  const system = 'x'.repeat(40_000);
  const json = {
    messages: [
      { role: 'system', content: system },
      { role: 'user', content: 'tail' },
    ],
  };
  assert.equal(text('chat', json, 30), `<|im_start|>system\n${'x'.repeat(11)}`);
  assert.equal(text('chat', json, 0), '');
  assert.equal(promptText('chat', json, ALL).length, 19 + 40_000 + 11 + 32);
});

test('a limit inside a long string of a tool definition stops there too', () => {
  const json = { tools: [{ function: { description: 'é'.repeat(10_000) } }] };
  assert.equal(text('chat', json, 48), `<|im_start|>tools\n{"function":{"description":"é`);
  assert.equal(promptText('chat', json, 47).at(-1), 0xc3, 'the cut keeps the first byte of é only');
});

test('malformed shapes: missing or empty gives nothing, other shapes their canonical JSON', () => {
  assert.equal(text('chat', {}), '');
  assert.equal(text('chat', { messages: [], tools: [] }), '');
  assert.equal(text('chat', { messages: 'hi' }), '"hi"');
  assert.equal(text('chat', { messages: { b: 1, a: 2 } }), '{"a":2,"b":1}');
  assert.equal(text('chat', { tools: { name: 'f' }, messages: [] }), '{"name":"f"}');
  assert.equal(
    text('chat', { messages: [null, 7, { role: 3, content: { z: true, a: null } }] }),
    ['<|im_start|>\nnull<|im_end|>\n', '<|im_start|>\n7<|im_end|>\n', '<|im_start|>\n{"a":null,"z":true}<|im_end|>\n'].join(''),
  );
  assert.equal(
    text('chat', { messages: [{ role: 'user', content: ['bare', { type: 'text', text: 5 }] }] }),
    ['<|im_start|>user\n"bare"\n{"text":5,"type":"text"}<|im_end|>\n'].join(''),
  );
  assert.equal(text('text', {}), '');
  assert.equal(text('text', { prompt: null }), '');
  assert.equal(text('text', { prompt: [] }), '');
  assert.equal(text('text', { prompt: 42 }), '42');
  assert.equal(text('text', { prompt: [{ b: [1], a: 'x' }] }), '[{"a":"x","b":[1]}]');
  assert.deepEqual(
    promptText('text', { prompt: [1, 'two', 3, 2.5] }, ALL),
    Buffer.concat([tokenBytes(1), Buffer.from('"two"'), tokenBytes(3), Buffer.from('2.5')]),
  );
});

test('the same request gives the same bytes every time', () => {
  const json = {
    tools: [{ type: 'function' }],
    messages: [{ role: 'user', content: [{ type: 'input_audio' }, { type: 'text', text: 'a' }] }],
  };
  assert.deepEqual(promptText('chat', json, 64), promptText('chat', structuredClone(json), 64));
});
