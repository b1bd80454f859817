import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdmissionQueue, type QueueEntry } from '../../src/admission/admission-queue.js';
import { type PriorityClass, requestClass, VLLM_PRIORITY } from '../../src/admission/priority-class.js';

type Item = { model: string };

/** A queue and a way to add requests: ids in arrival order, time given by the test. */
function queue() {
  const q = new AdmissionQueue<Item>();
  let id = 0;
  const add = (priority: PriorityClass, key: string, weight = 1, atMs = 0, model = 'm'): number => {
    const entry: QueueEntry<Item> = { id: ++id, priority, key, enqueuedMs: atMs, item: { model } };
    q.enqueue(entry, weight);
    return entry.id;
  };
  const drain = (count: number, canServe: (entry: QueueEntry<Item>) => boolean = () => true): string[] => {
    const out: string[] = [];
    for (let i = 0; i < count; i++) {
      const entry = q.next(canServe);
      if (entry === null) break;
      out.push(`${entry.priority[0]}:${entry.key}`);
    }
    return out;
  };
  return { q, add, drain };
}

test('x-priority lowers a class and never raises it; an unknown value is undefined', () => {
  assert.equal(requestClass('standard', undefined), 'standard');
  assert.equal(requestClass('standard', 'batch'), 'batch');
  assert.equal(requestClass('standard', ' Interactive '), 'standard', 'not raised');
  assert.equal(requestClass('interactive', ['batch', 'interactive']), 'batch');
  assert.equal(requestClass('batch', 'standard'), 'batch');
  assert.equal(requestClass('interactive', 'interactive'), 'interactive');
  assert.equal(requestClass('standard', 'urgent'), undefined);
  assert.equal(requestClass('standard', ''), undefined);
  assert.deepEqual(VLLM_PRIORITY, { interactive: -1, standard: 0, batch: 1 }, 'lower is earlier in vLLM; standard is 0, accepted anywhere');
});

test('strict priority between classes; first come first served inside one key', () => {
  const { q, add, drain } = queue();
  add('batch', 'b');
  add('standard', 's');
  add('batch', 'b');
  add('interactive', 'i');
  add('standard', 's');
  assert.deepEqual([q.size, q.depth('interactive'), q.depth('standard'), q.depth('batch')], [5, 1, 2, 2]);
  assert.deepEqual(drain(10), ['i:i', 's:s', 's:s', 'b:b', 'b:b']);
  assert.equal(q.size, 0);
});

test('equal weights alternate between keys, whatever each has queued', () => {
  const { add, drain } = queue();
  for (let i = 0; i < 10; i++) add('batch', 'heavy');
  add('batch', 'light');
  add('batch', 'light');
  assert.deepEqual(drain(6), ['b:heavy', 'b:light', 'b:heavy', 'b:light', 'b:heavy', 'b:heavy']);
});

test('weights share the queue in their ratio', () => {
  const { add, drain } = queue();
  for (let i = 0; i < 300; i++) {
    add('standard', 'three', 3);
    add('standard', 'one', 1);
  }
  const served = drain(200);
  const three = served.filter((name) => name === 's:three').length;
  assert.equal(three, 150, '3:1 of 200');
});

test('a key that floods the queue with requests that time out still gets its share of those served', () => {
  // Heavy enqueues 10 per step, light 1; one is served per step, and requests older than 30 steps time out.
  const { q, add } = queue();
  const served = { heavy: 0, light: 0 };
  for (let step = 0; step < 2_000; step++) {
    for (let i = 0; i < 10; i++) add('batch', 'heavy', 1, step);
    add('batch', 'light', 1, step);
    q.expire(step - 30);
    const entry = q.next(() => true);
    if (entry !== null) served[entry.key as 'heavy' | 'light']++;
  }
  assert.deepEqual(served, { heavy: 1000, light: 1000 });
});

test('a key coming back after a quiet spell has no credit saved up', () => {
  const { add, drain } = queue();
  for (let i = 0; i < 20; i++) add('standard', 'busy');
  assert.equal(drain(10).length, 10);
  // 'quiet' was idle while 10 were served: it alternates with 'busy' from now on, no run of 10 to catch up.
  for (let i = 0; i < 5; i++) add('standard', 'quiet');
  assert.deepEqual(drain(6), ['s:busy', 's:quiet', 's:busy', 's:quiet', 's:busy', 's:quiet']);
});

test('a request that cannot be served now (its backends are full) does not hold back the others', () => {
  const { q, add } = queue();
  add('interactive', 'a', 1, 0, 'full-model');
  add('standard', 'b', 1, 0, 'full-model');
  add('standard', 'c', 1, 0, 'free-model');
  add('batch', 'd', 1, 0, 'free-model');
  const canServe = (entry: QueueEntry<Item>) => entry.item.model === 'free-model';
  assert.equal(q.next(canServe)?.key, 'c');
  assert.equal(q.next(canServe)?.key, 'd');
  assert.equal(q.next(canServe), null);
  assert.equal(q.size, 2);
  assert.equal(q.next(() => true)?.key, 'a');
});

test('remove and expire: by id, oldest first, each once', () => {
  const { q, add } = queue();
  const first = add('standard', 'k', 1, 100);
  const second = add('batch', 'k', 1, 200);
  add('standard', 'k', 1, 300);
  assert.equal(q.oldest()?.id, first);
  assert.equal(q.remove(second)?.id, second);
  assert.equal(q.remove(second), null);
  assert.deepEqual(
    q.expire(250).map((entry) => entry.id),
    [first],
  );
  assert.deepEqual([q.size, q.oldest()?.enqueuedMs, q.depth('batch')], [1, 300, 0]);
  assert.deepEqual(q.expire(1000).length, 1);
  assert.equal(q.oldest(), null);
});
