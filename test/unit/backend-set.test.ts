import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { Registry } from 'prom-client';
import { configFromFlags } from '../../src/config/build-config.js';
import { FLAGS } from '../../src/config/flags.js';
import { createWorkerMetrics } from '../../src/metrics/definitions.js';
import { createRequestRecorder } from '../../src/metrics/request-recorder.js';
import type { AffinityResult } from '../../src/routing/affinity.js';
import { hashText } from '../../src/routing/key-hash.js';
import { HEALTHY, type HealthFlags } from '../../src/shared/backend-state.js';
import type { BackendOut, FleetBackend } from '../../src/shared/fleet.js';
import type { Backend } from '../../src/worker/backend.js';
import { BackendSet, type Selection } from '../../src/worker/backend-set.js';

/** A fleet entry; health flags given beside the other fields. */
function entry(url: string, fields: Partial<Omit<FleetBackend, 'health'> & HealthFlags> = {}): FleetBackend {
  const origin = new URL(url).origin;
  const { up, ejectedUntilMs, ejectionMs, heldUntilMs, upSinceMs, ...rest } = fields;
  const health = { ...HEALTHY, ...definedOnly({ up, ejectedUntilMs, ejectionMs, heldUntilMs, upSinceMs }) };
  return {
    url,
    origin,
    basePath: '',
    host: new URL(url).host,
    weight: 1,
    maxConcurrency: null,
    models: null,
    health,
    lastCheck: null,
    ...rest,
  };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** A worker's backend set over backends nobody connects to (selection never dispatches). */
function setOf(
  t: TestContext,
  backends: FleetBackend[],
  flags: Record<string, string> = {},
  affinity: AffinityResult[] = [],
): { set: BackendSet; outs: BackendOut[] } {
  const defaults: Record<string, unknown> = {};
  for (const [name, flag] of Object.entries(FLAGS)) if ('default' in flag) defaults[name] = flag.default;
  const config = configFromFlags({ ...defaults, ...flags });
  const recorder = createRequestRecorder(createWorkerMetrics(new Registry()), 8);
  const outs: BackendOut[] = [];
  const set = new BackendSet(config, recorder, {
    out: (verdict) => outs.push(verdict),
    affinity: (result) => affinity.push(result),
    loadChanged: () => undefined,
  });
  set.apply({ backends, modelCards: [] });
  t.after(() => set.close());
  return { set, outs };
}

const urlOf = (selection: Selection): string => {
  assert.equal(selection.kind, 'backend');
  return selection.kind === 'backend' ? selection.backend.url : '';
};

const pickAll = (set: BackendSet, model: string | null, tried: Backend[] | null = null, n = 60): Set<string> =>
  new Set(Array.from({ length: n }, () => urlOf(set.select({ model, key: null }, tried))));

test('a model goes only to the backends that serve it; an unknown list is eligible for every model', (t) => {
  const { set } = setOf(t, [
    entry('http://a:1', { models: ['llama'] }),
    entry('http://b:1', { models: ['qwen'] }),
    entry('http://c:1', { models: null }),
  ]);
  assert.deepEqual([...pickAll(set, 'llama')].sort(), ['http://a:1', 'http://c:1']);
  assert.deepEqual([...pickAll(set, 'qwen')].sort(), ['http://b:1', 'http://c:1']);
  assert.deepEqual([...pickAll(set, null)].sort(), ['http://a:1', 'http://b:1', 'http://c:1']);
});

test('a model no backend serves: model_not_found, or any backend with --unknown-model pass', (t) => {
  const known = [entry('http://a:1', { models: ['llama'] }), entry('http://b:1', { models: ['qwen'] })];
  assert.equal(setOf(t, known).set.select({ model: 'mistral', key: null }, null).kind, 'model_not_found');
  const { set } = setOf(t, known, { 'unknown-model': 'pass' });
  assert.deepEqual([...pickAll(set, 'mistral')].sort(), ['http://a:1', 'http://b:1']);
  assert.deepEqual([...pickAll(set, 'llama')], ['http://a:1'], 'a model someone serves still goes there only');
  assert.equal(setOf(t, []).set.select({ model: null, key: null }, null).kind, 'no_backend');
});

test('down, ejected and held backends are skipped; with none up, panic mode tries them all', (t) => {
  const now = Date.now();
  const { set } = setOf(t, [
    entry('http://up:1'),
    entry('http://down:1', { up: false }),
    entry('http://ejected:1', { ejectedUntilMs: now + 60_000 }),
    entry('http://held:1', { heldUntilMs: now + 60_000 }),
  ]);
  assert.deepEqual([...pickAll(set, null)], ['http://up:1']);
  const selection = set.select({ model: null, key: null }, null);
  assert.equal(selection.kind === 'backend' && selection.panic, null);
  set.apply({
    backends: [entry('http://down:1', { up: false }), entry('http://ejected:1', { ejectedUntilMs: now + 60_000 })],
    modelCards: [],
  });
  const panic = set.select({ model: null, key: null }, null);
  assert.equal(panic.kind === 'backend' && panic.panic, 'fleet');
  assert.deepEqual([...pickAll(set, null)].sort(), ['http://down:1', 'http://ejected:1']);
});

test('a Retry-After hold does not turn into a refusal: held backends are used when nothing else is left', (t) => {
  const now = Date.now();
  const { set } = setOf(t, [entry('http://h1:1', { heldUntilMs: now + 60_000 }), entry('http://h2:1', { heldUntilMs: now + 60_000 })]);
  assert.equal(pickAll(set, null).size, 2);
});

test('a retry goes to a backend not tried yet while one is up, and to a tried one only when none is left', (t) => {
  const { set } = setOf(t, [entry('http://a:1'), entry('http://b:1'), entry('http://c:1', { up: false })]);
  const a = set.all.find((backend) => backend.url === 'http://a:1') as Backend;
  const b = set.all.find((backend) => backend.url === 'http://b:1') as Backend;
  assert.deepEqual([...pickAll(set, null, [a])], ['http://b:1']);
  assert.equal(set.hasAlternative({ model: null, key: null }, [a]), true);
  assert.equal(set.hasAlternative({ model: null, key: null }, [a, b]), false, 'the down one does not count while one is up');
  assert.deepEqual([...pickAll(set, null, [a, b])].sort(), ['http://a:1', 'http://b:1']);
});

test('in panic mode every untried backend is an alternative', (t) => {
  const { set } = setOf(t, [entry('http://a:1', { up: false }), entry('http://b:1', { up: false })]);
  const a = set.all[0] as Backend;
  assert.equal(set.hasAlternative({ model: null, key: null }, [a]), true);
  assert.equal(set.hasAlternative({ model: null, key: null }, [a, set.all[1] as Backend]), false);
});

test('the set follows the primary: added backends are chosen, removed ones are not, the rest keep their counts', (t) => {
  const { set } = setOf(t, [entry('http://a:1'), entry('http://b:1')]);
  const b = set.all[1] as Backend;
  b.inFlight = 3;
  set.apply({ backends: [entry('http://b:1', { weight: 4 }), entry('http://c:1')], modelCards: [{ id: 'm' }] });
  assert.deepEqual(
    set.all.map((backend) => backend.url),
    ['http://b:1', 'http://c:1'],
  );
  assert.equal(set.all[0], b, 'the same object: its pool and counts survive');
  assert.equal(b.weight, 4);
  assert.equal(b.inFlight, 3);
  assert.deepEqual(set.modelCards, [{ id: 'm' }]);
  assert.ok(!pickAll(set, null).has('http://a:1'));
});

test('max fails in a row take a backend out at once and tell the primary; a success in between resets the count', (t) => {
  const { set, outs } = setOf(t, [entry('http://a:1'), entry('http://b:1')], { 'max-fails': '3', 'fail-timeout': '5s' });
  const a = set.all[0] as Backend;
  a.failed();
  a.failed();
  a.succeeded();
  a.failed();
  a.failed();
  assert.equal(outs.length, 0);
  a.failed();
  assert.deepEqual(outs, [{ url: 'http://a:1', reason: 'max_fails', forMs: 5_000 }]);
  assert.equal(a.isUp(Date.now()), false);
  assert.deepEqual([...pickAll(set, null)], ['http://b:1']);
  a.hold(2_000);
  assert.deepEqual(outs[1], { url: 'http://a:1', reason: 'retry_after', forMs: 2_000 });
});

test('slow start: a backend back since half the ramp has half its weight, never less than a tenth', (t) => {
  const now = Date.now();
  const { set } = setOf(t, [entry('http://a:1', { weight: 4, upSinceMs: now - 5_000 }), entry('http://b:1', { upSinceMs: now })], {
    'slow-start': '10s',
  });
  const [a, b] = set.all as [Backend, Backend];
  assert.ok(Math.abs(a.effectiveWeight(now) - 2) < 1e-9);
  assert.ok(Math.abs(b.effectiveWeight(now) - 0.1) < 1e-9);
  assert.equal(a.effectiveWeight(now + 5_000), 4);
});

test('a home taken out by its failures keeps its keys: each counts as unavailable once and the others stay home', (t) => {
  const results: AffinityResult[] = [];
  const { set } = setOf(
    t,
    [entry('http://a:1'), entry('http://b:1'), entry('http://c:1')],
    { routing: 'session', 'max-fails': '3', 'slow-start': '10s' },
    results,
  );
  const keys = Array.from({ length: 60 }, (_, i) => hashText(`session-${i}`));
  const route = (): string[] => keys.map((key) => urlOf(set.select({ model: null, key }, null)));
  const homes = route();
  assert.deepEqual(new Set(results), new Set(['home']));
  const b = set.all[1] as Backend;
  for (let i = 0; i < 3; i++) b.failed();
  assert.equal(b.isUp(Date.now()), false, 'ejected by its own failures');
  results.length = 0;
  const during = route();
  const onB = homes.filter((home) => home === b.url).length;
  assert.ok(onB >= 5, `some keys live on b (${onB})`);
  assert.equal(results.filter((result) => result === 'unavailable').length, onB, 'every key of b, and only those, is unavailable');
  homes.forEach((home, i) => {
    if (home === b.url) assert.notEqual(during[i], b.url);
    else assert.equal(during[i], home, 'a key of another backend does not move');
  });
});

test('panic for one model: none of its backends is up while another backend is', (t) => {
  const { set } = setOf(t, [entry('http://a:1', { models: ['llama'] }), entry('http://b:1', { models: ['qwen'], up: false })]);
  const qwen = set.select({ model: 'qwen', key: null }, null);
  assert.equal(qwen.kind === 'backend' && qwen.panic, 'model');
  assert.equal(qwen.kind === 'backend' && qwen.backend.url, 'http://b:1', 'its own backend is still tried');
  const llama = set.select({ model: 'llama', key: null }, null);
  assert.equal(llama.kind === 'backend' && llama.panic, null);
});
