// How many CPUs this process may keep busy. Its CPU affinity
// (os.availableParallelism) shows a cpuset, but not the CPU quota of its
// cgroup, which is what a container's CPU limit becomes (a pod with
// `limits.cpu: 1` on an 8-CPU node has affinity for 8 and time for 1).
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

/** CPUs available to this process: its affinity, capped by its cgroup's quota when it has one. */
export function cpuBudget(cgroupRoot = '/sys/fs/cgroup', selfCgroup = '/proc/self/cgroup'): number {
  const quota = cgroupQuota(cgroupRoot, selfCgroup);
  const cpus = availableParallelism();
  return quota === null ? cpus : Math.min(cpus, quota);
}

/**
 * The CPU quota (quota / period, in CPUs) of the process's cgroup: cgroup v2's
 * cpu.max ("150000 100000", or "max 100000" for none), v1's
 * cpu.cfs_quota_us / cpu.cfs_period_us (-1 for none). Looked for under the
 * process's own cgroup path, then at the mount's root, which is where a
 * container sees its own cgroup. Null when there is none or it cannot be read.
 */
export function cgroupQuota(cgroupRoot: string, selfCgroup: string): number | null {
  let lines: string[];
  try {
    lines = readFileSync(selfCgroup, 'utf8').split('\n');
  } catch {
    return null;
  }
  for (const line of lines) {
    // "0::/path" (v2) or "4:cpu,cpuacct:/path" (v1)
    const [, controllers, path] = line.split(':', 3);
    if (path === undefined) continue;
    if (controllers === '') {
      const max = firstReadable([join(cgroupRoot, path, 'cpu.max'), join(cgroupRoot, 'cpu.max')]);
      if (max === null) continue;
      const [quota, period] = max.trim().split(/\s+/);
      if (quota === 'max') return null;
      return ratio(Number(quota), Number(period));
    }
    if (controllers!.split(',').includes('cpu')) {
      for (const dir of [join(cgroupRoot, controllers!), join(cgroupRoot, 'cpu')]) {
        const quota = firstReadable([join(dir, path, 'cpu.cfs_quota_us'), join(dir, 'cpu.cfs_quota_us')]);
        const period = firstReadable([join(dir, path, 'cpu.cfs_period_us'), join(dir, 'cpu.cfs_period_us')]);
        if (quota === null || period === null) continue;
        return ratio(Number(quota), Number(period));
      }
    }
  }
  return null;
}

function ratio(quota: number, period: number): number | null {
  return Number.isFinite(quota) && quota > 0 && Number.isFinite(period) && period > 0 ? quota / period : null;
}

function firstReadable(files: string[]): string | null {
  for (const file of files) {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      // the next candidate
    }
  }
  return null;
}
