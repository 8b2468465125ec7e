// Mounts with the kernel's writeback cache (mount.writebackCache): the kernel then reads a page
// it must fill before a partial write even from a file opened write-only, and writes dirty pages
// back at their own offsets even from a file opened O_APPEND. Each ends as natively.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../helpers/run.ts';
import { withMount, withTempDir, writeConfig } from '../helpers/mount.ts';

// Prints the length and the bytes the writes touched, after the kernel's cache is dropped.
const WRITES = `import os, sys
p = os.path.join(sys.argv[1], 'f')
open(p, 'wb').write(b'a' * 10000)
os.system('sync; echo 3 > /proc/sys/vm/drop_caches')
fd = os.open(p, os.O_WRONLY)          # page 0 not cached: the kernel reads it first
os.pwrite(fd, b'b' * 10, 100)
os.close(fd)
fd = os.open(p, os.O_RDWR | os.O_APPEND)
os.write(fd, b'TAIL')
os.fsync(fd)
os.close(fd)
fd = os.open(p, os.O_WRONLY | os.O_APPEND)
os.write(fd, b'MORE')
os.close(fd)
os.system('sync; echo 3 > /proc/sys/vm/drop_caches')
d = open(p, 'rb').read()
print(len(d), d[98:112], d[-10:])`;

/** WRITES in `dir`: what it printed. */
function writes(dir: string): string {
  const r = run('python3', ['-c', WRITES, dir]);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

// What native ext4 prints (10,000 bytes and two appends of 4).
const NATIVE = "10008 b'aabbbbbbbbbbaa' b'aaTAILMORE'";

test('writeback cache: the native baseline', () => withTempDir('wb-native', (dir) => assert.equal(writes(dir), NATIVE)));

for (const backend of ['passthrough', 'memory'] as const) {
  test(`writeback cache, ${backend}: write-only and O_APPEND files end as natively`, () =>
    withTempDir('wb', async (dir) => {
      const backing = join(dir, 'backing');
      mkdirSync(backing);
      const spec = backend === 'passthrough' ? `passthrough:${backing}` : 'memory';
      const config = writeConfig(dir, { mount: { writebackCache: true } });
      await withMount(['--config', config, '--backend', spec], async (mnt) => {
        assert.equal(writes(mnt), NATIVE);
      });
    }));
}
