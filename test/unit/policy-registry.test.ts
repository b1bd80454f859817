import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { FLAGS } from '../../src/config/flags.js';
import { loadPolicies, ROUTING_POLICIES, routingPolicy } from '../../src/routing/policy-registry.js';

/** A policies directory of its own holding `files` (name -> module source); its file URL, with a trailing slash. */
async function policiesDir(t: TestContext, files: Record<string, string>): Promise<URL> {
  const dir = await mkdtemp(join(tmpdir(), 'policies-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (const [name, source] of Object.entries(files)) await writeFile(join(dir, name), source);
  return pathToFileURL(`${dir}/`);
}

const declaration = (name: string, key: string | null = null): string =>
  `export const policy = { name: '${name}', summary: 'the first candidate', key: ${JSON.stringify(key)}, exactShares: true, create: () => ({ select: (candidates) => candidates[0] }) };\n`;

test('a policy is one file: dropped into the directory, it is found, and nothing else lists it', async (t) => {
  const dir = await policiesDir(t, {
    'first.js': declaration('first'),
    'sticky.js': declaration('sticky', 'session'),
    'another.js': declaration('another'),
    'first.js.map': '{}',
  });
  const policies = await loadPolicies(dir);
  assert.deepEqual(
    policies.map((policy) => [policy.name, policy.key]),
    [
      ['another', null],
      ['first', null],
      ['sticky', 'session'],
    ],
    'plain policies first, then the keyed ones, each by name; only modules',
  );
  const selector = (policies[1] as (typeof policies)[number]).create({ loadFactor: 1.5, bound: 'both', record: () => undefined });
  const candidates = [{ url: 'a' }, { url: 'b' }] as never[];
  assert.equal(selector.select(candidates, { model: null, key: null }, 0, { eligible: candidates, first: true }), candidates[0]);
});

test('a policies directory with a mistake in it is refused, naming the file', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ 'nothing.js': 'export const other = 1;\n' }, /nothing\.js: exports no policy/],
    [{ 'renamed.js': declaration('original') }, /renamed\.js: declares "original", not its file's name/],
    [{ 'tenant.js': declaration('tenant', 'tenant') }, /tenant\.js: unknown routing key "tenant"/],
  ];
  for (const [files, error] of cases) await assert.rejects(loadPolicies(await policiesDir(t, files)), error);
});

test('the shipped policies: --routing accepts exactly them, and --help describes each', () => {
  assert.ok(ROUTING_POLICIES.length > 0);
  assert.ok(
    ROUTING_POLICIES.some((policy) => policy.name === FLAGS.routing.default),
    'the default is one of them',
  );
  for (const policy of ROUTING_POLICIES) {
    assert.equal(routingPolicy(policy.name), policy);
    assert.ok(FLAGS.routing.describe.includes(`${policy.name} (${policy.summary})`), policy.name);
  }
  assert.throws(() => routingPolicy('fastest'), /unknown routing policy "fastest"/);
});
