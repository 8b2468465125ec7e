// Runs after every other test file: the suite fails if a test left an
// interposer mount or a daemon process behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';

test('no interposer mount is left behind', () => {
  const left = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .filter((l) => l.includes('fuse.interposer') || l.startsWith('interposer'));
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
    if (cmd.includes('src/cli/main.ts') || cmd.includes('test/fixtures/')) left.push(`${pid}: ${cmd}`);
  }
  assert.deepEqual(left, []);
});
