// Runs after every other test file: the suite fails if a test left an
// interposer mount or a daemon process behind. The benchmark (bench/, its
// directories named interposer-bench-*) is not part of the suite and may be
// running beside it on a developer's machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';

const BENCH = /interposer-bench-|\/bench\//;

test('no interposer mount is left behind', () => {
  const left = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .filter((l) => (l.includes('fuse.interposer') || l.startsWith('interposer')) && !BENCH.test(l));
  assert.deepEqual(left, []);
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
