// Readers of a large directory that interleave, seek back, rewind or close
// midway must each see the whole directory, exactly once per pass: the daemon
// keeps a listing per open handle and pages through it by the backing
// filesystem's cookies (vfs/dir-handles.ts).
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { withMount, withTempDir } from '../helpers/mount.ts';
import { py } from '../helpers/run.ts';

const FILES = 6000; // several pages, and three getdents64 reads on the backing directory

/** Drives opendir/readdir/telldir/seekdir/rewinddir/closedir through libc and checks every pass. */
const readers = (d: string): string => `
import ctypes, os
libc = ctypes.CDLL('libc.so.6', use_errno=True)
class Dirent(ctypes.Structure):
    _fields_ = [('ino', ctypes.c_uint64), ('off', ctypes.c_int64), ('reclen', ctypes.c_ushort),
                ('type', ctypes.c_ubyte), ('name', ctypes.c_char * 256)]
libc.opendir.restype = ctypes.c_void_p
libc.opendir.argtypes = [ctypes.c_char_p]
libc.readdir.restype = ctypes.POINTER(Dirent)
libc.readdir.argtypes = [ctypes.c_void_p]
libc.telldir.restype = ctypes.c_long
libc.telldir.argtypes = [ctypes.c_void_p]
libc.seekdir.argtypes = [ctypes.c_void_p, ctypes.c_long]
libc.rewinddir.argtypes = [ctypes.c_void_p]
libc.closedir.argtypes = [ctypes.c_void_p]
d = ${JSON.stringify(d)}
expected = sorted(['.', '..'] + ['f%d' % i for i in range(${FILES})])
def opendir():
    h = libc.opendir(d.encode())
    assert h, 'opendir failed: errno %d' % ctypes.get_errno()
    return h
def take(h, n=None):
    out = []
    while n is None or len(out) < n:
        e = libc.readdir(h)
        if not e:
            break
        out.append(e.contents.name.decode())
    return out
def whole(names, what):
    assert sorted(names) == expected, '%s: %d names, %d distinct, expected %d' % (what, len(names), len(set(names)), len(expected))
a = opendir()
first = take(a, 1500)
b = opendir()
b_head = take(b, 3000)
at = libc.telldir(b)
whole(first + take(a), 'a, read on after b opened')
b_tail = take(b)
whole(b_head + b_tail, 'b, interleaved with a')
libc.seekdir(b, at)
assert take(b) == b_tail, 'b after seekdir back to where it was'
libc.rewinddir(a)
whole(take(a), 'a after rewinddir')
c = opendir()
take(c, 10)
libc.closedir(c)
libc.closedir(a)
libc.closedir(b)
whole(['.', '..'] + os.listdir(d), 'a fresh listing after a reader closed midway')
print('ok')
`;

for (const cache of [[], ['--cache', 'direct']]) {
  test(`passthrough${cache.length ? ' (cache: direct)' : ''}: readers of a large directory see it whole, interleaved, after seekdir and rewinddir, and after one closed midway`, () =>
    withTempDir('listing-readers', (back) => {
      const d = join(back, 'many');
      mkdirSync(d);
      for (let i = 0; i < FILES; i++) writeFileSync(join(d, `f${i}`), '');
      return withMount(['--backend', `passthrough:${back}`, ...cache], async (mnt) => {
        assert.equal(py(readers(join(mnt, 'many'))), 'ok');
      });
    }));
}
