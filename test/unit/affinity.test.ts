import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AffinityResult, createAffinity } from '../../src/routing/affinity.js';
import { hashText, type KeyHash } from '../../src/routing/key-hash.js';
import { rendezvousScore } from '../../src/routing/rendezvous.js';
import type { SelectionContext } from '../../src/routing/selector.js';
import { FakeCandidate } from '../helpers/fake-candidate.js';

class Fake extends FakeCandidate {}

const NOW = 1_000;
const fleet = (n: number): Fake[] => Array.from({ length: n }, (_, i) => new Fake(`http://10.0.0.${i + 1}:8000`));
const key = (i: number): KeyHash => hashText(`session-${i}`);

function router(loadFactor = 1.25) {
  const results: AffinityResult[] = [];
  const selector = createAffinity(loadFactor, (result) => results.push(result), 'prefill');
  const pick = (candidates: Fake[], k: KeyHash | null, eligible: Fake[] = candidates, first = true): Fake =>
    selector.select(candidates, { model: null, key: k }, NOW, { eligible, first } as SelectionContext<Fake>);
  return { pick, results };
}

/** Where each of `keys` lives on `backends`, by URL. */
function homes(backends: Fake[], keys: number): string[] {
  const { pick } = router();
  return Array.from({ length: keys }, (_, i) => pick(backends, key(i)).url);
}

test('a key always goes to the same home while nothing changes, whatever the order of the backends', () => {
  const backends = fleet(4);
  const first = homes(backends, 200);
  assert.deepEqual(homes([...backends].reverse(), 200), first, 'by URL, not by position');
  assert.deepEqual(homes([backends[2], backends[0], backends[3], backends[1]] as Fake[], 200), first);
  assert.deepEqual(homes(backends, 200), first, 'and again');
});

test('homes spread over every backend, in proportion to weight', () => {
  const counts = new Map<string, number>();
  for (const url of homes(fleet(4), 4_000)) counts.set(url, (counts.get(url) ?? 0) + 1);
  assert.equal(counts.size, 4);
  for (const count of counts.values()) assert.ok(Math.abs(count - 1_000) < 150, `${[...counts.values()]}`);
  const weighted = fleet(2);
  (weighted[0] as Fake).weight = 3;
  const share = homes(weighted, 4_000).filter((url) => url === weighted[0]?.url).length / 4_000;
  assert.ok(Math.abs(share - 0.75) < 0.03, `share ${share}`);
});

test('a backend leaving moves only its own keys; one joining takes about 1/N from the others', () => {
  const backends = fleet(5);
  const before = homes(backends, 2_000);
  const gone = backends[1] as Fake;
  const after = homes(
    backends.filter((b) => b !== gone),
    2_000,
  );
  let moved = 0;
  before.forEach((url, i) => {
    if (url === gone.url) assert.notEqual(after[i], gone.url);
    else {
      assert.equal(after[i], url, 'a key whose home stayed did not move');
      return;
    }
    moved++;
  });
  assert.ok(Math.abs(moved / 2_000 - 0.2) < 0.04, `moved ${moved}`);
  const joined = homes([...backends, new Fake('http://10.0.0.99:8000')], 2_000);
  const taken = joined.filter((url, i) => url !== before[i]).length;
  assert.ok(Math.abs(taken / 2_000 - 1 / 6) < 0.04, `taken ${taken}`);
  assert.ok(
    joined.every((url, i) => url === before[i] || url === 'http://10.0.0.99:8000'),
    'keys only move to the newcomer',
  );
});

test('at light load a key never moves: a home with at most one request waiting is never over the bound', () => {
  const backends = fleet(4);
  const { pick, results } = router(1.1);
  const home = pick(backends, key(7));
  home.prefilling = 1;
  for (const other of backends) if (other !== home) other.prefilling = 0;
  assert.equal(pick(backends, key(7)), home, 'one request at home and nothing anywhere else: still home');
  assert.deepEqual(results, ['home', 'home']);
});

test('overflow: a home over the load factor times the mean sends the request to the next choice; it comes back when the load falls', () => {
  const backends = fleet(4);
  const { pick, results } = router(1.25);
  const home = pick(backends, key(3));
  const order = [...backends].sort((a, b) => rendezvousScore(key(3), b.url, 1) - rendezvousScore(key(3), a.url, 1));
  assert.equal(order[0], home);
  // 6 waiting at home, 2 elsewhere: mean with this request (9 / 4) * 1.25 = 2.8 < 6.
  home.prefilling = 6;
  (order[3] as Fake).prefilling = 2;
  assert.equal(pick(backends, key(3)), order[1], 'the next backend on the key’s own order');
  assert.equal(pick(backends, key(3)), order[1], 'and the same one each time: its cache warms for the key');
  // The others caught up: 2 everywhere, (9 / 4) * 1.25 = 2.8 >= 2.
  for (const backend of backends) backend.prefilling = 2;
  assert.equal(pick(backends, key(3)), home, 'home again once the load evens out');
  assert.deepEqual(results, ['home', 'overflow', 'overflow', 'home']);
});

test('a home that is down, held or tried: the next choice, counted as unavailable; the key stays put', () => {
  const backends = fleet(3);
  const { pick, results } = router();
  const home = pick(backends, key(11));
  const others = backends.filter((b) => b !== home);
  const next = pick(others, key(11), backends);
  assert.notEqual(next, home);
  assert.equal(pick(backends, key(11)), home, 'when it is back the key is home again');
  assert.equal(pick(others, key(11), backends, false), next, 'a retry goes on along the order…');
  assert.deepEqual(results, ['home', 'unavailable', 'home'], '…and is not counted again');
});

test('no key: least-load decides, counted as no_key', () => {
  const backends = fleet(3);
  const { pick, results } = router();
  (backends[0] as Fake).inFlight = 4;
  (backends[1] as Fake).inFlight = 1;
  (backends[2] as Fake).inFlight = 3;
  assert.equal(pick(backends, null), backends[1]);
  assert.deepEqual(results, ['no_key']);
});

test('everyone over the bound: the least loaded, not a refusal', () => {
  const backends = fleet(2);
  const { pick } = router(1);
  for (const backend of backends) backend.prefilling = 50;
  (backends[1] as Fake).inFlight = 60;
  (backends[0] as Fake).inFlight = 55;
  assert.ok(backends.includes(pick(backends, key(1))));
});
