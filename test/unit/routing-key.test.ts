import assert from 'node:assert/strict';
import { test } from 'node:test';
import { promptText } from '../../src/llm/prompt-text.js';
import { hashBytes, hashText, murmur32 } from '../../src/routing/key-hash.js';
import { ROUTING_POLICIES } from '../../src/routing/policy-registry.js';
import { createKeyReader } from '../../src/routing/routing-key.js';

const SESSION = { sessionHeader: 'x-session-id', prefixBytes: 1024 };
const PREFIX = { sessionHeader: 'x-session-id', prefixBytes: 64 };

test('session: the header, else the body’s user field, else no key', () => {
  const keyOf = createKeyReader('session', SESSION);
  assert.deepEqual(keyOf({ 'x-session-id': 'abc' }, 'chat', { user: 'u1' }), hashText('abc'), 'the header wins');
  assert.deepEqual(keyOf({}, 'chat', { user: 'u1' }), hashText('u1'));
  assert.deepEqual(keyOf({ 'x-session-id': 'abc' }, null, null), hashText('abc'), 'any route, with the header');
  for (const json of [null, {}, { user: '' }, { user: 42 }]) assert.equal(keyOf({}, 'chat', json), null);
  // A long id (a JWT, a conversation id with a tenant prefix) is a key like any other: hashed, never dropped.
  const long = `tenant-7/${'x'.repeat(1000)}`;
  assert.deepEqual(keyOf({ 'x-session-id': long }, 'chat', null), hashText(long));
  assert.deepEqual(keyOf({}, 'chat', { user: long }), hashText(long));
  assert.notDeepEqual(keyOf({}, 'chat', { user: `${long}y` }), hashText(long));
  assert.equal(keyOf({ 'x-session-id': ['a', 'b'] as unknown as string }, 'chat', null), null, 'a repeated header is not an id');
  assert.equal(
    createKeyReader('session', { ...SESSION, sessionHeader: 'x-conversation' })({ 'x-conversation': 'c' }, null, null)?.hi,
    hashText('c').hi,
  );
});

test('prefix: the first --prefix-bytes of the prompt text, for chat and completions alike', () => {
  const keyOf = createKeyReader('prefix', PREFIX);
  const system = 'You are a careful assistant. '.repeat(10);
  const chat = {
    messages: [
      { role: 'system', content: system },
      { role: 'user', content: 'question one' },
    ],
  };
  const key = keyOf({}, 'chat', chat);
  assert.deepEqual(key, hashBytes(promptText('chat', chat, 64)));
  // Another question after the same system prompt: the same key, since the first 64 bytes are the system prompt's.
  assert.deepEqual(
    keyOf({}, 'chat', {
      messages: [
        { role: 'system', content: system },
        { role: 'user', content: 'question two' },
      ],
    }),
    key,
  );
  // The same text as an array of parts: the same prompt as the model sees it.
  assert.deepEqual(
    keyOf({}, 'chat', {
      messages: [
        { role: 'system', content: [{ type: 'text', text: system }] },
        { role: 'user', content: 'x' },
      ],
    }),
    key,
  );
  const withTools = keyOf({}, 'chat', { ...chat, tools: [{ type: 'function', function: { name: 'f', parameters: {} } }] });
  assert.notDeepEqual(withTools, key, 'tool definitions come first and are part of the prefix');
  assert.deepEqual(keyOf({}, 'text', { prompt: system }), hashBytes(Buffer.from(system).subarray(0, 64)));
  const tokens = Array.from({ length: 40 }, (_, i) => i + 1000);
  assert.deepEqual(keyOf({}, 'text', { prompt: tokens }), hashBytes(promptText('text', { prompt: tokens }, 64)));
  assert.deepEqual(
    keyOf({}, 'text', { prompt: tokens }),
    keyOf({}, 'text', { prompt: [...tokens, 7, 8, 9] }),
    'a longer token prompt with the same start',
  );
});

test('prefix: no prompt, a body that is not JSON, or another route: no key (least-load decides)', () => {
  const keyOf = createKeyReader('prefix', PREFIX);
  assert.equal(keyOf({}, 'chat', null), null, 'the body did not parse');
  assert.equal(keyOf({}, 'chat', { messages: [] }), null);
  assert.equal(keyOf({}, 'text', { prompt: '' }), null);
  assert.equal(keyOf({ 'x-session-id': 's' }, null, null), null, 'embeddings and other routes have no prompt prefix');
});

test('a policy without a key reads none at all; a keyed one reads its key from a request that has both', () => {
  const json = { user: 'u', messages: [{ role: 'user', content: 'hello' }] };
  for (const policy of ROUTING_POLICIES) {
    const key = createKeyReader(policy.key, SESSION)({ 'x-session-id': 's' }, 'chat', json);
    if (policy.key === null) assert.equal(key, null, policy.name);
    else assert.notEqual(key, null, policy.name);
  }
});

test('the key hash is stable: fixed values, so every process and every proxy instance agree', () => {
  assert.deepEqual(hashText(''), hashBytes(new Uint8Array(0)));
  assert.deepEqual(hashText('session-1'), hashText('session-1'));
  assert.notDeepEqual(hashText('session-1'), hashText('session-2'));
  // MurmurHash3 x86 32-bit, checked against its published test vectors.
  const bytes = (text: string) => new TextEncoder().encode(text);
  assert.equal(murmur32(bytes(''), 0), 0);
  assert.equal(murmur32(bytes(''), 1), 0x514e28b7);
  assert.equal(murmur32(bytes('hello'), 0), 0x248bfa47);
  assert.equal(murmur32(bytes('Hello, world!'), 1234), 0xfaf6cdb3);
  assert.equal(murmur32(bytes('The quick brown fox jumps over the lazy dog'), 0x9747b28c), 0x2fa826cd);
  // Pinned: a change of the hash would move every key of every deployment at once.
  assert.deepEqual(hashText('inference-proxy'), { hi: 1713569909, lo: 2855825306 });
});
