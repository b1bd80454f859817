import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

const CGROUP_ROOT = '/sys/fs/cgroup';

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

/** The CPU quota of this container in whole CPUs (rounded up), or null when there is none. */
export function cgroupCpuLimit(root = CGROUP_ROOT): number | null {
  const v2 = read(`${root}/cpu.max`);
  if (v2 !== null) {
    const [quota, period] = v2.split(/\s+/);
    if (quota === 'max' || quota === undefined || period === undefined) return null;
    return Math.max(1, Math.ceil(Number(quota) / Number(period)));
  }
  const quota = Number(read(`${root}/cpu/cpu.cfs_quota_us`));
  const period = Number(read(`${root}/cpu/cpu.cfs_period_us`));
  if (!(quota > 0 && period > 0)) return null;
  return Math.max(1, Math.ceil(quota / period));
}

/**
 * One worker per CPU this process may use. Node 20's availableParallelism() counts the machine's CPUs,
 * not a container's quota: a pod limited to 2 CPUs on a 64-core node must not start 64 workers.
 * `root` is the cgroup mount; tests point it at a directory of their own.
 */
export function usableCpuCount(root = CGROUP_ROOT): number {
  const cpus = availableParallelism();
  const limit = cgroupCpuLimit(root);
  return limit === null ? cpus : Math.min(cpus, limit);
}
