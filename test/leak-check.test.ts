// Runs after every other test file: the suite fails if a test left an
// interposer mount, a filesystem of its own mounted (an ext4 on a loop device),
// a daemon process or a dead daemon's control socket behind.
// The benchmark (bench/, its directories named interposer-bench-*) is not part
// of the suite and may be running beside it on a developer's machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { controlSocketFor, deadSocket } from '../src/control/socket-path.ts';

const BENCH = /interposer-bench-|\/bench\//;

test('no interposer mount is left behind', () => {
  const left = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .filter((l) => (l.includes('fuse.interposer') || l.startsWith('interposer')) && !BENCH.test(l));
  assert.deepEqual(left, []);
});

test("no test's own filesystem or loop device is left behind", () => {
  const mounted = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .filter((l) => l.includes('/interposer-test-'));
  const loops: string[] = [];
  for (const dev of readdirSync('/sys/block').filter((d) => d.startsWith('loop'))) {
    let backing = '';
    try {
      backing = readFileSync(`/sys/block/${dev}/loop/backing_file`, 'utf8').trim();
    } catch {
      continue; // not attached
    }
    if (backing.includes('/interposer-test-')) loops.push(`${dev}: ${backing}`);
  }
  assert.deepEqual({ mounted, loops }, { mounted: [], loops: [] });
});

test('no interposer daemon process is left behind', () => {
  const left: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    if (Number(pid) === process.pid) continue;
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      continue;
    }
    if ((cmd.includes('src/cli/main.ts') || cmd.includes('test/fixtures/')) && !BENCH.test(cmd)) left.push(`${pid}: ${cmd}`);
  }
  assert.deepEqual(left, []);
});

/** When the test runner (this file's parent) started, in ms since the epoch. */
function suiteStartMs(): number {
  const stat = readFileSync(`/proc/${process.ppid}/stat`, 'utf8');
  const startTicks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  const bootSeconds = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))![1]);
  return (bootSeconds + startTicks / 100) * 1000; // USER_HZ is 100 on Linux
}

test('no control socket of a dead daemon is left behind', async () => {
  // Sockets made during this run that nothing listens on; older ones are not the suite's.
  const dir = dirname(controlSocketFor('/'));
  const since = suiteStartMs() - 1000;
  const left: string[] = [];
  for (const name of existsSync(dir) ? readdirSync(dir) : []) {
    const path = join(dir, name);
    if (name.endsWith('.sock') && statSync(path).mtimeMs >= since && (await deadSocket(path))) left.push(path);
  }
  assert.deepEqual(left, []);
});
