// A CPU limit as containers get it: the cgroup's quota, v2 and v1, under the
// process's own cgroup path or at the root a container sees.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { cgroupQuota, cpuBudget } from '../../src/util/cpu-budget.ts';

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'cgroup-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

test('the quota of cgroup v2 and v1, where a host and where a container sees it', () => {
  const cases: Array<[string, Record<string, string>, number | null]> = [
    ['v2, own path', { self: '0::/kubepods/pod1\n', 'fs/kubepods/pod1/cpu.max': '150000 100000\n' }, 1.5],
    ['v2, no limit', { self: '0::/kubepods/pod1\n', 'fs/kubepods/pod1/cpu.max': 'max 100000\n' }, null],
    [
      'v2 in a container: the host path is not there, the root is its cgroup',
      { self: '0::/kubepods/pod1\n', 'fs/cpu.max': '50000 100000\n' },
      0.5,
    ],
    [
      'v1, cpu,cpuacct hierarchy',
      {
        self: '4:memory:/x\n3:cpu,cpuacct:/kubepods/pod1\n',
        'fs/cpu,cpuacct/kubepods/pod1/cpu.cfs_quota_us': '200000\n',
        'fs/cpu,cpuacct/kubepods/pod1/cpu.cfs_period_us': '100000\n',
      },
      2,
    ],
    ['v1, no limit', { self: '1:cpu:/\n', 'fs/cpu/cpu.cfs_quota_us': '-1\n', 'fs/cpu/cpu.cfs_period_us': '100000\n' }, null],
    ['no cpu controller mounted', { self: '0::/a\n' }, null],
    ['garbage', { self: '0::/a\n', 'fs/a/cpu.max': 'lots\n' }, null],
  ];
  for (const [what, files, want] of cases) {
    const root = tree(files);
    try {
      assert.equal(cgroupQuota(join(root, 'fs'), join(root, 'self')), want, what);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }
  assert.equal(cgroupQuota('/nonexistent', '/nonexistent/self'), null, 'no /proc/self/cgroup');
});

test('the budget is the affinity, capped by the quota', () => {
  const root = tree({ self: '0::/\n', 'fs/cpu.max': '100000 100000\n' });
  try {
    assert.equal(cpuBudget(join(root, 'fs'), join(root, 'self')), 1);
    assert.equal(cpuBudget(join(root, 'none'), join(root, 'self')), availableParallelism());
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
