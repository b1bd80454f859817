import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withEnginePriority } from '../../src/llm/engine-priority.js';

const forward = (text: string, priority: 'interactive' | 'standard' | 'batch'): string =>
  withEnginePriority(Buffer.from(text), JSON.parse(text) as Record<string, unknown>, priority).toString();

test("the class becomes vLLM's priority field, inserted without touching the rest", () => {
  assert.equal(forward('{"model":"m", "stream":true}', 'batch'), '{"priority":1,"model":"m", "stream":true}');
  assert.equal(forward('  { "model":"m"}', 'interactive'), '  {"priority":-1, "model":"m"}');
  assert.equal(forward('{ }', 'batch'), '{"priority":1 }');
  assert.equal(forward('{"model":"m"}', 'standard'), '{"model":"m"}', "standard is vLLM's default 0: nothing written");
});

test("a client's own priority may ask for less than its class, never more", () => {
  assert.equal(forward('{"priority":5,"model":"m"}', 'batch'), '{"priority":5,"model":"m"}');
  assert.equal(forward('{"priority":0,"model":"m"}', 'standard'), '{"priority":0,"model":"m"}');
  assert.deepEqual(JSON.parse(forward('{"priority":-3,"model":"m"}', 'batch')), { priority: 1, model: 'm' });
  assert.deepEqual(JSON.parse(forward('{"priority":"high","model":"m"}', 'standard')), { priority: 0, model: 'm' });
});
