import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import type { PriorityClass } from '../../src/admission/priority-class.js';
import type { EngineView } from '../../src/admission/saturation.js';
import { type QueuedRequest, type QueueLeaveReason, SlotGranter } from '../../src/admission/slot-granter.js';
import { eventually } from '../../support/wait.js';

const LIMITS = { waiting: 5, kv: 0.8 };

/** A fleet described by plain tables, and everything the granter said. */
function fleet(t: TestContext, options: { maxConcurrency?: number; models?: Record<string, string[]>; timeoutMs?: number } = {}) {
  const own = new Map<string, number>();
  const views = new Map<string, EngineView>();
  const models = options.models ?? { a: ['m'], b: ['m'] };
  const grants: Array<[string, string]> = [];
  const expired: string[] = [];
  const left: Array<[PriorityClass, QueueLeaveReason | null]> = [];
  const granter: SlotGranter = new SlotGranter(
    {
      candidates: (model) => Object.keys(models).filter((url) => model === null || (models[url] as string[]).includes(model)),
      own: (url) => own.get(url) ?? 0,
      view: (url) => views.get(url) ?? null,
      maxConcurrency: () => options.maxConcurrency ?? null,
      // Least loaded first, as least-load routing would.
      choose: (_request, urls): string => [...urls].sort((x, y) => granter.fleetLoad(x) - granter.fleetLoad(y))[0] as string,
      grant: (request, url) => grants.push([`${request.worker}:${request.request}`, url]),
      expired: (request) => expired.push(`${request.worker}:${request.request}`),
    },
    { left: (priority, _waitedMs, reason) => left.push([priority, reason]) },
    LIMITS,
    options.timeoutMs ?? 60_000,
  );
  t.after(() => granter.close());
  const request = (worker: number, id: number, model: string | null = 'm'): QueuedRequest => ({ worker, request: id, model });
  return { granter, own, views, grants, expired, left, request };
}

test('nothing is granted while every backend is full; room goes to the queue in order, whichever worker holds it', (t) => {
  const { granter, own, grants, request } = fleet(t, { maxConcurrency: 1 });
  own.set('a', 1).set('b', 1);
  granter.enqueue(request(1, 1), 'batch', 'k', 1);
  granter.enqueue(request(2, 1), 'standard', 'k', 1);
  granter.enqueue(request(1, 2), 'interactive', 'k', 1);
  granter.pump();
  assert.deepEqual([grants, granter.size], [[], 3]);
  own.set('b', 0);
  granter.pump();
  assert.deepEqual(grants, [['1:2', 'b']], 'the interactive one, on the backend with room');
  granter.pump();
  assert.equal(grants.length, 1, 'the grant counts on b until the worker reports it sent');
  own.set('b', 1);
  granter.sent(1, 2);
  own.set('a', 0);
  granter.pump();
  assert.deepEqual(grants.at(-1), ['2:1', 'a']);
  assert.deepEqual([granter.size, granter.depth('batch')], [1, 1]);
});

test('a grant given back (the client left before it was sent) frees its room', (t) => {
  const { granter, own, grants, left, request } = fleet(t, { maxConcurrency: 1, models: { a: ['m'] } });
  own.set('a', 1);
  granter.enqueue(request(1, 1), 'standard', 'k', 1);
  granter.enqueue(request(1, 2), 'standard', 'k', 1);
  own.set('a', 0);
  granter.pump();
  assert.deepEqual(grants, [['1:1', 'a']]);
  granter.leave(1, 1, 'client_gone');
  granter.pump();
  assert.deepEqual(grants.at(-1), ['1:2', 'a']);
  assert.deepEqual(left, [
    ['standard', null],
    ['standard', null],
  ]);
});

test('a request for a model whose backends are full does not hold back one for another model', (t) => {
  const { granter, own, grants, request } = fleet(t, { maxConcurrency: 1, models: { a: ['x'], b: ['y'] } });
  own.set('a', 1);
  granter.enqueue(request(1, 1, 'x'), 'interactive', 'k', 1);
  granter.enqueue(request(1, 2, 'y'), 'batch', 'k', 1);
  granter.pump();
  assert.deepEqual(grants, [['1:2', 'b']]);
  assert.equal(granter.depth('interactive'), 1);
});

test('the engine rule: a queue of --saturation-waiting carried forward with the grants', (t) => {
  const { granter, views, grants, request } = fleet(t, { models: { a: ['m'] } });
  views.set('a', { waiting: 3, running: 8, kvUsage: 0.1, ownAtReading: 0, capacity: 8, fresh: true });
  for (let i = 1; i <= 4; i++) granter.enqueue(request(1, i), 'standard', 'k', 1);
  granter.pump();
  assert.deepEqual(
    grants.map(([id]) => id),
    ['1:1', '1:2'],
    'two more make the queue 5',
  );
  assert.equal(granter.room('a'), 0);
});

test('the oldest request times out first; each leaves once, with its reason', async (t) => {
  const { granter, own, expired, left, request } = fleet(t, { maxConcurrency: 1, timeoutMs: 40, models: { a: ['m'] } });
  own.set('a', 1);
  granter.enqueue(request(1, 1), 'batch', 'k', 1);
  granter.enqueue(request(2, 7), 'interactive', 'k', 1);
  granter.leave(2, 7, 'client_gone');
  granter.leave(2, 7, 'client_gone');
  await eventually(
    'expired',
    () => expired.length,
    (n) => n === 1,
    { timeoutMs: 2_000 },
  );
  assert.deepEqual(expired, ['1:1']);
  assert.deepEqual(left, [
    ['interactive', 'client_gone'],
    ['batch', 'timeout'],
  ]);
  assert.equal(granter.size, 0);
});

test('a worker that is gone takes its queued requests and its grants with it', (t) => {
  const { granter, grants, left, request } = fleet(t, { maxConcurrency: 1, models: { a: ['m'] } });
  granter.enqueue(request(1, 1), 'standard', 'k', 1);
  granter.enqueue(request(2, 1), 'standard', 'k', 1);
  granter.enqueue(request(2, 2), 'standard', 'k', 1);
  granter.pump();
  assert.deepEqual(grants, [['1:1', 'a']]);
  granter.workerGone(1);
  granter.workerGone(2);
  assert.deepEqual([granter.size, granter.room('a')], [0, 1]);
  assert.deepEqual(
    left.map(([, reason]) => reason),
    [null, 'shutdown', 'shutdown'],
  );
});
