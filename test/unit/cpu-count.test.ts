import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cgroupCpuLimit, usableCpuCount } from '../../src/config/cpu-count.js';

function cgroup(t: { after: (fn: () => void) => void }, files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'iproxy-cgroup-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(root, name, '..'), { recursive: true });
    writeFileSync(join(root, name), text);
  }
  return root;
}

test('cgroup v2 cpu.max: a quota becomes whole CPUs, rounded up; max means none', (t) => {
  assert.equal(cgroupCpuLimit(cgroup(t, { 'cpu.max': '200000 100000\n' })), 2);
  assert.equal(cgroupCpuLimit(cgroup(t, { 'cpu.max': '150000 100000\n' })), 2);
  assert.equal(cgroupCpuLimit(cgroup(t, { 'cpu.max': '50000 100000\n' })), 1);
  assert.equal(cgroupCpuLimit(cgroup(t, { 'cpu.max': 'max 100000\n' })), null);
});

test('cgroup v1 cfs quota and period; -1 means none; no cgroup files means none', (t) => {
  assert.equal(cgroupCpuLimit(cgroup(t, { 'cpu/cpu.cfs_quota_us': '300000', 'cpu/cpu.cfs_period_us': '100000' })), 3);
  assert.equal(cgroupCpuLimit(cgroup(t, { 'cpu/cpu.cfs_quota_us': '-1', 'cpu/cpu.cfs_period_us': '100000' })), null);
  assert.equal(cgroupCpuLimit(cgroup(t, {})), null);
});

test('the worker default never exceeds the CPUs Node sees', () => {
  const count = usableCpuCount();
  assert.ok(count >= 1 && count <= availableParallelism());
});
