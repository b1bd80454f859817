import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { ADMIN_ROUTES, isAdminRoute } from '../../src/tenants/admin-routes.js';
import { keysFromList } from '../../src/tenants/key-list.js';
import { createModelCheck } from '../../src/tenants/model-globs.js';

const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

test('a key list: digests from key_sha256, key_env and key (with a warning), limits with their windows', () => {
  const list = [
    { name: 'team-a', key_sha256: sha('a-key').toUpperCase(), models: ['llama-*'], rpm: 600, tpm: { tokens: 6000, per: '10s' } },
    { name: 'team-b', key_env: 'TEAM_B_KEY', max_parallel: 4, budget: { tokens: 1_000_000, per: 'month' }, admin: true },
    { name: 'ops', key: 'plain-key', rpm: { requests: 10, per: '1s' }, budget: { tokens: 500, per: '1h' } },
  ];
  const { keys, warnings } = keysFromList(list, { TEAM_B_KEY: 'b-key' });
  assert.deepEqual(
    keys.map((key) => [key.name, key.digest, key.models, key.admin]),
    [
      ['team-a', sha('a-key'), ['llama-*'], false],
      ['team-b', sha('b-key'), null, true],
      ['ops', sha('plain-key'), null, false],
    ],
  );
  assert.deepEqual(keys[0]?.limits, {
    requests: { amount: 600, perMs: 60_000 },
    tokens: { amount: 6000, perMs: 10_000 },
    parallel: null,
    budget: null,
  });
  assert.deepEqual(keys[1]?.limits, { requests: null, tokens: null, parallel: 4, budget: { tokens: 1_000_000, period: 'month' } });
  assert.deepEqual(keys[2]?.limits.requests, { amount: 10, perMs: 1000 });
  assert.deepEqual(keys[2]?.limits.budget, { tokens: 500, period: 3_600_000 });
  assert.deepEqual(warnings, ['keys[2] (ops): the key is written in clear in the config file; prefer key_sha256 or key_env']);
});

test('a bad key entry is refused with the entry and the problem named', () => {
  const cases: Array<[unknown, string]> = [
    [{ key: 'x' }, 'keys[0]: name: expected 1 to 64 letters'],
    [{ name: 'a b', key: 'x' }, 'keys[0] (a b): name: expected'],
    [{ name: 'api-key', key: 'x' }, 'keys[0] (api-key): name: api-key is the name of the --api-key keys'],
    [{ name: 'a' }, 'keys[0] (a): give exactly one of key_sha256, key_env and key'],
    [{ name: 'a', key: 'x', key_env: 'X' }, 'keys[0] (a): give exactly one of'],
    [{ name: 'a', key_sha256: 'abc' }, 'keys[0] (a): key_sha256: expected 64 hex digits'],
    [{ name: 'a', key_env: 'NOT_SET_ANYWHERE' }, 'keys[0] (a): key_env: the environment variable NOT_SET_ANYWHERE is not set'],
    [{ name: 'a', key: 'has space' }, 'keys[0] (a): key: a key is 1 to 512 printable'],
    [{ name: 'a', key: 'x', rpm: 0 }, 'keys[0] (a): rpm: expected an integer from 1'],
    [{ name: 'a', key: 'x', tpm: { tokens: 10, per: '10ms' } }, 'keys[0] (a): tpm.per: expected from 100 ms'],
    [{ name: 'a', key: 'x', tpm: { requests: 10, per: '1s' } }, 'keys[0] (a): tpm: unknown field "requests" (expected tokens and per)'],
    [{ name: 'a', key: 'x', budget: 100 }, 'keys[0] (a): budget: expected {tokens, per'],
    [{ name: 'a', key: 'x', budget: { tokens: 100, per: 'week' } }, 'keys[0] (a): budget.per: expected a duration'],
    [{ name: 'a', key: 'x', models: [] }, 'keys[0] (a): models: expected a list'],
    [{ name: 'a', key: 'x', admin: 'yes' }, 'keys[0] (a): admin: expected true or false'],
    [{ name: 'a', key: 'x', tokens: 5 }, 'keys[0] (a): unknown field "tokens"'],
  ];
  for (const [entry, start] of cases) {
    assert.throws(
      () => keysFromList([entry], {}),
      (err: Error) => err.message.startsWith(start),
      `${JSON.stringify(entry)} -> ${start}`,
    );
  }
  assert.throws(
    () =>
      keysFromList(
        [
          { name: 'a', key: 'x' },
          { name: 'a', key: 'y' },
        ],
        {},
      ),
    /keys\[1\] \(a\): name "a" is given twice/,
  );
  assert.throws(
    () =>
      keysFromList(
        [
          { name: 'a', key: 'x' },
          { name: 'b', key: 'x' },
        ],
        {},
      ),
    /keys\[1\] \(b\): the same key as "a"/,
  );
  assert.throws(() => keysFromList({ name: 'a' }, {}), /keys: expected a list/);
});

test('model globs: * spans any run (slashes included), ? one character, the rest is literal', () => {
  const check = createModelCheck(['llama-3*', 'meta/*-instruct', 'qwen-?b', 'gpt-4.1']);
  for (const model of ['llama-3', 'llama-3.1-8b', 'meta/llama-70b-instruct', 'qwen-7b', 'gpt-4.1']) assert.equal(check(model), true, model);
  for (const model of ['llama-2', 'xllama-3', 'meta/x-instruct-v2', 'qwen-14b', 'gpt-4x1', 'gpt-4.10'])
    assert.equal(check(model), false, model);
  assert.equal(createModelCheck(null)('anything'), true);
});

test('every admin route is recognised however its path is spelled; other paths are not', () => {
  for (const { path } of ADMIN_ROUTES) {
    const escaped = path.replace(/[a-z]/, (c) => `%${c.charCodeAt(0).toString(16)}`);
    for (const spelling of [path, `${path}?x=1`, `${path}/`, `/${path}`, `/v1/..${path}`, `/.${path}`, escaped]) {
      assert.equal(isAdminRoute(spelling), true, spelling);
    }
  }
  for (const path of ['/v1/chat/completions', '/v1/models', '/health', '/sleepy', '/v1/sleep', '/is_sleeping', '/version?q=/sleep']) {
    assert.equal(isAdminRoute(path), false, path);
  }
  // Undecodable: refused rather than guessed.
  assert.equal(isAdminRoute('/sl%E0%A4%A'), true);
});

test("a key's priority class and weight in the admission queue: standard and 1 unless given", () => {
  const { keys } = keysFromList(
    [
      { name: 'chat-app', key: 'a', priority: 'interactive', weight: 3 },
      { name: 'nightly', key: 'b', priority: 'batch' },
      { name: 'plain', key: 'c' },
    ],
    {},
  );
  assert.deepEqual(
    keys.map((key) => [key.name, key.priority, key.weight]),
    [
      ['chat-app', 'interactive', 3],
      ['nightly', 'batch', 1],
      ['plain', 'standard', 1],
    ],
  );
  for (const [entry, start] of [
    [{ name: 'a', key: 'x', priority: 'urgent' }, 'keys[0] (a): priority: expected interactive, standard, batch, got "urgent"'],
    [{ name: 'a', key: 'x', weight: 0 }, 'keys[0] (a): weight: expected an integer from 1 to 1000'],
    [{ name: 'a', key: 'x', weight: 2.5 }, 'keys[0] (a): weight: expected an integer from 1 to 1000'],
  ] as const) {
    assert.throws(
      () => keysFromList([entry], {}),
      (err: Error) => err.message.startsWith(start),
      `${JSON.stringify(entry)} -> ${start}`,
    );
  }
});
