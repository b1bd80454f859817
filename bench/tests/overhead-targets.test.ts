import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseBenchArgs } from '../bench-args.js';
import { overheadTargetDefs, selectOverheadTargets } from '../targets/overhead-targets.js';
import { hasRedisServer } from '../targets/tenant-targets.js';
import { Fifo } from '../workloads/fifo.js';

const NODE24 = { path: '/tmp/node24/bin/node', version: 'v24.22.3', tag: 'node24' };

test('the fifo gives items back in order, across its compaction', () => {
  const fifo = new Fifo<number>();
  for (let i = 0; i < 3000; i++) fifo.push(i);
  for (let i = 0; i < 2000; i++) assert.equal(fifo.shift(), i);
  fifo.push(3000);
  assert.equal(fifo.length, 1001);
  for (let i = 2000; i <= 3000; i++) assert.equal(fifo.shift(), i);
  assert.equal(fifo.shift(), undefined);
  assert.equal(fifo.length, 0);
});

test('overhead targets: direct-models comes only with Portkey, the references of chosen targets always', () => {
  const defs = overheadTargetDefs('', null, null);
  const all = selectOverheadTargets(defs, parseBenchArgs([]));
  assert.deepEqual(
    all.map((d) => d.name),
    ['direct', 'direct-models', 'proxy-1w', 'proxy-2w', 'simple-undici', 'simple-undici-2w', 'fastify', 'portkey'],
  );
  const chosen = selectOverheadTargets(defs, parseBenchArgs(['--targets', 'proxy-1w,portkey']));
  assert.deepEqual(
    chosen.map((d) => d.name),
    ['direct', 'direct-models', 'proxy-1w', 'portkey'],
  );
  const limits = selectOverheadTargets(defs, parseBenchArgs(['--targets', 'proxy-1w-key,proxy-1w-limits']));
  assert.deepEqual(
    limits.map((d) => d.name),
    ['direct', 'proxy-1w-key', 'proxy-1w-limits'],
  );
  const noPortkey = selectOverheadTargets(defs, parseBenchArgs(['--targets', 'proxy-1w']));
  assert.deepEqual(
    noPortkey.map((d) => d.name),
    ['direct', 'proxy-1w'],
  );
});

test('--node gives every Node target a twin right after it; nginx and direct have none', () => {
  const names = overheadTargetDefs('', null, NODE24).map((d) => d.name);
  assert.deepEqual(names, [
    'direct',
    'direct-models',
    'proxy-1w',
    'proxy-1w-node24',
    'proxy-2w',
    'proxy-2w-node24',
    'proxy-1w-key',
    'proxy-1w-limits',
    // Only where redis-server is installed (CI installs it).
    ...(hasRedisServer() ? ['proxy-1w-limits-redis'] : []),
    'simple-undici',
    'simple-undici-node24',
    'simple-undici-2w',
    'simple-undici-2w-node24',
    'fastify',
    'fastify-node24',
    'portkey',
    'portkey-node24',
  ]);
  const twin = overheadTargetDefs('', null, NODE24).find((d) => d.name === 'portkey-node24');
  assert.equal(twin?.reference, 'direct-models');
});

test('bench flags of the overhead workload', () => {
  const args = parseBenchArgs(['--workloads', 'overhead', '--rates', '500,2000', '--rounds', '300', '--search-probes', '0', '--node', 'x']);
  assert.deepEqual(args.workloads, ['overhead']);
  assert.deepEqual(args.rates, [500, 2000]);
  assert.equal(args.rounds, 300);
  assert.equal(args.searchProbes, 0);
  assert.equal(args.node, 'x');
  assert.throws(() => parseBenchArgs(['--search-probes', '1.5']), /--search-probes/);
  assert.throws(() => parseBenchArgs(['--rates', '0']), /--rates/);
});
