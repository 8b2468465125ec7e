// Mounts with the kernel's writeback cache (mount.writebackCache): the kernel then reads a page
// it must fill before a partial write even from a file opened write-only, writes dirty pages
// back at their own offsets even from a file opened O_APPEND, writes back the ctime of a file it
// has just unlinked, and has data the backend has not seen yet. Each ends as natively.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { run } from '../helpers/run.ts';
import { withBackendMount, withTempDir } from '../helpers/mount.ts';

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

// syncfs(2) of the mount after files were unlinked and one renamed over another: the kernel writes
// the ctime it set then back to the daemon, and an error there would be the next syncfs's.
const SYNCFS = `import os, sys, ctypes
libc = ctypes.CDLL(None, use_errno=True)
def syncfs(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    r = libc.syncfs(fd)
    e = ctypes.get_errno()
    os.close(fd)
    return 'ok' if r == 0 else os.strerror(e)
m = sys.argv[1]
for i in range(3):
    open(os.path.join(m, 'a%d' % i), 'w').write('x')
    os.unlink(os.path.join(m, 'a%d' % i))
print('after unlink:', syncfs(m))
open(os.path.join(m, 'b'), 'w').write('b')
open(os.path.join(m, 'c'), 'w').write('c')
os.rename(os.path.join(m, 'b'), os.path.join(m, 'c'))
print('after rename over:', syncfs(m), open(os.path.join(m, 'c')).read())`;

// SEEK_DATA and SEEK_HOLE at the start of a sparse file just written, before any write-back.
const SEEK = `import os, sys
fd = os.open(os.path.join(sys.argv[1], 's'), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
os.pwrite(fd, b'x' * 8192, 0)
os.pwrite(fd, b'y' * 4096, 1 << 20)
print(os.lseek(fd, 0, os.SEEK_DATA), os.lseek(fd, 0, os.SEEK_HOLE))`;

/** `script` run in `dir`: what it printed. */
function python(script: string, dir: string): string {
  const r = run('python3', ['-c', script, dir]);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

// What native ext4 prints (10,000 bytes and two appends of 4).
const NATIVE_WRITES = "10008 b'aabbbbbbbbbbaa' b'aaTAILMORE'";
const NATIVE_SYNCFS = 'after unlink: ok\nafter rename over: ok b';

test('writeback cache: the native baseline', () =>
  withTempDir('wb-native', (dir) => {
    assert.equal(python(WRITES, dir), NATIVE_WRITES);
    assert.equal(python(SYNCFS, dir), NATIVE_SYNCFS);
  }));

/** `fn` on a fresh mount of `backend` with the writeback cache. */
const withWritebackMount = (backend: 'passthrough' | 'memory', fn: (mnt: string) => void): Promise<void> =>
  withBackendMount(backend, { mount: { writebackCache: true } }, async (mnt) => fn(mnt));

for (const backend of ['passthrough', 'memory'] as const) {
  test(`writeback cache, ${backend}: write-only and O_APPEND files end as natively`, () =>
    withWritebackMount(backend, (mnt) => assert.equal(python(WRITES, mnt), NATIVE_WRITES)));
  test(`writeback cache, ${backend}: syncfs after unlinks and a rename over a file succeeds`, () =>
    withWritebackMount(backend, (mnt) => assert.equal(python(SYNCFS, mnt), NATIVE_SYNCFS)));
  test(`writeback cache, ${backend}: SEEK_DATA finds data the backend has not been sent yet`, () =>
    withWritebackMount(backend, (mnt) => {
      const [data, hole] = python(SEEK, mnt).split(' ').map(Number);
      assert.equal(data, 0, 'the file starts with data');
      // Natively the first hole is at 8 KiB; the end of the file is a hole too, the one the
      // kernel knows without the backend.
      assert.ok(hole === 8192 || hole === (1 << 20) + 4096, `a hole at ${hole}`);
    }));
}
