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

// usableCpuCount() is what --workers auto calls; here it reads a cgroup tree the test wrote.
test('--workers auto under a cgroup v2 quota: 1.5 CPUs give 2 workers, half a CPU 1, max the machine count', (t) => {
  const cpus = availableParallelism();
  assert.equal(usableCpuCount(cgroup(t, { 'cpu.max': '150000 100000\n' })), Math.min(2, cpus));
  assert.equal(usableCpuCount(cgroup(t, { 'cpu.max': '50000 100000\n' })), 1);
  assert.equal(usableCpuCount(cgroup(t, { 'cpu.max': 'max 100000\n' })), cpus);
  // A quota above the machine's CPUs cannot add workers beyond them.
  assert.equal(usableCpuCount(cgroup(t, { 'cpu.max': `${(cpus + 3) * 100000} 100000\n` })), cpus);
});

test('--workers auto under a cgroup v1 quota, and without any cgroup file', (t) => {
  const cpus = availableParallelism();
  const v1 = (quota: string) => cgroup(t, { 'cpu/cpu.cfs_quota_us': quota, 'cpu/cpu.cfs_period_us': '100000' });
  assert.equal(usableCpuCount(v1('100000')), 1);
  assert.equal(usableCpuCount(v1('150000')), Math.min(2, cpus));
  assert.equal(usableCpuCount(v1('-1')), cpus);
  assert.equal(usableCpuCount(cgroup(t, {})), cpus);
});
