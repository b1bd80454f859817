import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashText } from '../../src/routing/key-hash.js';
import { ROUTING_POLICIES, routingPolicy } from '../../src/routing/policy-registry.js';
import type { Candidate, RoutingFacts, RoutingPolicy, Selector } from '../../src/routing/selector.js';
import { FakeCandidate } from '../helpers/fake-candidate.js';

/** A backend as a policy sees it; its requests in prefill are all its requests in progress. */
class Fake extends FakeCandidate {
  override prefillLoad(): number {
    return this.inFlight;
  }
}

const NOW = 1_000_000;
const FACTS = { model: null, key: null };
/** A policy as it declares itself (every file of src/routing/policies/), or by name. */
type Policy = RoutingPolicy | string;
const declared = (policy: Policy): RoutingPolicy => (typeof policy === 'string' ? routingPolicy(policy) : policy);
/** Statistical, not exact: what a policy declares (random draws, and keyed policies over many distinct keys). */
const isStatistical = (policy: Policy): boolean => !declared(policy).exactShares;

const selectorFor = (policy: Policy): Selector => declared(policy).create({ loadFactor: 1.25, bound: 'both', record: () => undefined });

/** Request i's facts: for a keyed policy each request its own key (a session, a prompt). */
const factsFor = (policy: Policy, i: number): RoutingFacts =>
  declared(policy).key !== null ? { model: null, key: hashText(`key-${i}`) } : FACTS;

function pick<C extends Candidate>(selector: Selector, policy: Policy, candidates: readonly C[], i: number): C {
  return selector.select(candidates, factsFor(policy, i), NOW, { eligible: candidates, first: true });
}

function picks(policy: Policy, candidates: Fake[], rounds: number, hold = false): Map<string, number> {
  const selector = selectorFor(policy);
  const counts = new Map(candidates.map((c) => [c.url, 0]));
  for (let i = 0; i < rounds; i++) {
    const chosen = pick(selector, policy, candidates, i);
    counts.set(chosen.url, (counts.get(chosen.url) ?? 0) + 1);
    // `hold`: every chosen request stays in progress, as under sustained concurrency.
    if (hold) chosen.inFlight++;
  }
  return counts;
}

// The same suite runs against every selection policy, as the registry finds them: what any policy must do.
for (const policy of ROUTING_POLICIES) {
  const name = policy.name;
  test(`${name}: only ever returns one of the candidates it was given`, () => {
    const selector = selectorFor(policy);
    const all = [new Fake('a'), new Fake('b', 3), new Fake('c')];
    for (let i = 0; i < 300; i++) {
      const subset = all.filter((_, j) => (i >> j) % 2 === 1);
      if (subset.length === 0) continue;
      assert.ok(subset.includes(pick(selector, policy, subset, i)), `${name} picked outside ${subset.map((c) => c.url)}`);
    }
  });

  test(`${name}: a single candidate is always chosen`, () => {
    const only = new Fake('only');
    only.inFlight = 1_000;
    const selector = selectorFor(policy);
    for (let i = 0; i < 10; i++) assert.equal(pick(selector, policy, [only], i), only);
  });

  test(`${name}: equal backends at light load share the requests evenly`, () => {
    const counts = picks(policy, [new Fake('a'), new Fake('b'), new Fake('c')], 3_000);
    for (const [url, count] of counts) {
      // Deterministic policies are exact; random (and hashing many keys) stays within 5 standard deviations of 1,000.
      if (isStatistical(policy)) assert.ok(Math.abs(count - 1_000) < 130, `${url}: ${count}`);
      else assert.equal(count, 1_000, `${url}: ${count}`);
    }
  });

  test(`${name}: weights set the share (3:1)`, () => {
    const counts = picks(policy, [new Fake('heavy', 3), new Fake('light', 1)], 4_000);
    const heavy = counts.get('heavy') ?? 0;
    if (isStatistical(policy)) assert.ok(Math.abs(heavy - 3_000) < 140, `heavy: ${heavy}`);
    else assert.equal(heavy, 3_000);
  });

  test(`${name}: a backend in slow start (a fraction of its weight) gets that fraction`, () => {
    const ramping = new Fake('ramping', 0.25);
    const counts = picks(policy, [new Fake('a'), ramping], 5_000);
    const share = (counts.get('ramping') ?? 0) / 5_000;
    assert.ok(Math.abs(share - 0.2) < 0.02, `share ${share}`);
  });
}

test('round-robin is smooth: 5:1:1 interleaves the light backends instead of bunching them', () => {
  const selector = selectorFor('round-robin');
  const candidates = [new Fake('a', 5), new Fake('b'), new Fake('c')];
  const order = Array.from({ length: 7 }, (_, i) => pick(selector, 'round-robin', candidates, i).url).join('');
  assert.equal(order, 'aabacaa');
});

test('least-load: the backend with the fewest requests in progress wins, per unit of weight', () => {
  const selector = selectorFor('least-load');
  const a = new Fake('a');
  const b = new Fake('b');
  const c = new Fake('c', 2);
  a.inFlight = 3;
  b.inFlight = 1;
  c.inFlight = 4;
  assert.equal(pick(selector, 'least-load', [a, b, c], 0), b);
  c.inFlight = 1;
  assert.equal(pick(selector, 'least-load', [a, b, c], 0), c, '1/2 beats 1/1');
});

test('least-load under sustained concurrency: a backend holding its requests longer gets fewer new ones', () => {
  const fast = [new Fake('fast-1'), new Fake('fast-2')];
  const slow = new Fake('slow');
  const selector = selectorFor('least-load');
  const counts = new Map<string, number>();
  // Fast backends finish their requests at once; the slow one keeps each for 10 rounds.
  const slowDone: number[] = [];
  for (let round = 0; round < 1_000; round++) {
    while (slowDone.length > 0 && (slowDone[0] as number) <= round) {
      slowDone.shift();
      slow.inFlight--;
    }
    const chosen = pick(selector, 'least-load', [...fast, slow], round);
    counts.set(chosen.url, (counts.get(chosen.url) ?? 0) + 1);
    if (chosen === slow) {
      slow.inFlight++;
      slowDone.push(round + 10);
    }
  }
  assert.ok((counts.get('slow') ?? 0) <= 100, `slow got ${counts.get('slow')}`);
});

test('least-load counts the load it is shown: other workers’ requests weigh like its own', () => {
  const counts = picks('least-load', [new Fake('a'), new Fake('b')], 100, true);
  assert.deepEqual([...counts.values()], [50, 50]);
});
