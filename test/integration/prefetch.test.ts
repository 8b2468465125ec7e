// A small file opened for reading through a passthrough mount is read ahead as
// it is opened (backends/passthrough.ts): its pages are in the backing
// filesystem's cache before the caller reads anything. Seen from outside, on an
// ext4 of its own (dropped pages are really gone): the backing file's resident
// pages (fincore) after an open that read nothing. Writers, O_DIRECT readers,
// files above the limit and `--prefetch 0` get nothing read, nor does an open
// answered while other requests wait on the daemon.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PassthroughFs } from '../../src/backends/passthrough.ts';
import type { OpContext } from '../../src/vfs/types.ts';
import { waitFor, withExt4, withMount } from '../helpers/mount.ts';
import { py, sh } from '../helpers/run.ts';

const KIB = 1024;

/** Bytes of `path` in the page cache. */
const resident = (path: string): number => Number(sh(`fincore --bytes --noheadings --output RES ${JSON.stringify(path)}`).trim());

/** Writes `size` bytes to each of `files`, makes them durable and drops them from the page cache. */
function coldFiles(files: Record<string, number>): void {
  for (const [path, size] of Object.entries(files)) writeFileSync(path, Buffer.alloc(size, 'x'));
  py(`import os
for p in ${JSON.stringify(Object.keys(files))}:
    fd = os.open(p, os.O_RDONLY)
    os.fsync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)`);
  for (const path of Object.keys(files)) assert.equal(resident(path), 0, `${path} starts out of the page cache`);
}

/** Opens `path` with the Python flags `flags` and closes it, reading nothing. */
const openOnly = (path: string, flags: string): void => void py(`import os\nos.close(os.open(${JSON.stringify(path)}, ${flags}))`);

test('opening a small file to read it starts reading it; writers, O_DIRECT and large files are left alone', () =>
  withExt4((fs) => {
    const back = (name: string): string => join(fs, name);
    coldFiles({
      [back('small')]: 64 * KIB,
      [back('rw')]: 8 * KIB,
      [back('writer')]: 64 * KIB,
      [back('direct')]: 64 * KIB,
      [back('large')]: 1024 * KIB,
    });
    return withMount(['--backend', `passthrough:${fs}`], async (mnt) => {
      openOnly(join(mnt, 'writer'), 'os.O_WRONLY');
      openOnly(join(mnt, 'direct'), 'os.O_RDONLY | os.O_DIRECT');
      openOnly(join(mnt, 'large'), 'os.O_RDONLY');
      openOnly(join(mnt, 'small'), 'os.O_RDONLY');
      openOnly(join(mnt, 'rw'), 'os.O_RDWR');
      await waitFor(() => resident(back('small')) === 64 * KIB, 10_000, 'the whole of a 64 KiB file opened O_RDONLY in the page cache');
      await waitFor(() => resident(back('rw')) === 8 * KIB, 10_000, 'an 8 KiB file opened O_RDWR in the page cache');
      // Read ahead before their opens returned, these would have landed before the ones above.
      assert.equal(resident(back('writer')), 0, 'opened O_WRONLY: nothing read');
      assert.equal(resident(back('direct')), 0, 'opened O_DIRECT: nothing read into the cache its reader skips');
      assert.equal(resident(back('large')), 0, 'a 1 MiB file, above the 128 KiB default: nothing read at open');
    });
  }));

test('--prefetch sets the largest file read ahead; 0 turns it off', () =>
  withExt4(async (fs) => {
    const back = (name: string): string => join(fs, name);
    coldFiles({ [back('a')]: 64 * KIB, [back('b')]: 256 * KIB, [back('read')]: 4 * KIB });
    await withMount(['--backend', `passthrough:${fs}`, '--prefetch', '0'], async (mnt) => {
      openOnly(join(mnt, 'a'), 'os.O_RDONLY');
      py(`open(${JSON.stringify(join(mnt, 'read'))}, 'rb').read()`);
      await waitFor(() => resident(back('read')) === 4 * KIB, 10_000, 'the file read through the mount in the page cache');
      assert.equal(resident(back('a')), 0, 'with --prefetch 0 an open reads nothing');
    });
    await withMount(['--backend', `passthrough:${fs}`, '--prefetch', '256KiB'], async (mnt) => {
      openOnly(join(mnt, 'b'), 'os.O_RDONLY');
      await waitFor(() => resident(back('b')) === 256 * KIB, 10_000, 'a 256 KiB file read ahead with --prefetch 256KiB');
    });
  }));

test('an open answered while other requests wait on the daemon reads nothing ahead', () =>
  withExt4(async (fs) => {
    const back = (name: string): string => join(fs, name);
    coldFiles({ [back('busy')]: 64 * KIB, [back('idle')]: 64 * KIB });
    // The backend itself, as the request loop calls it: whether others wait is the loop's to say.
    const vfs = new PassthroughFs(fs, { prefetchMax: 128 * KIB });
    const ctx: OpContext = { uid: 0, gid: 0, pid: process.pid, unique: 1 };
    try {
      const busy = vfs.open({ ...ctx, othersWaiting: true }, '/busy', 0);
      const idle = vfs.open({ ...ctx, othersWaiting: false }, '/idle', 0);
      await waitFor(() => resident(back('idle')) === 64 * KIB, 10_000, 'the file opened with nothing else waiting in the page cache');
      assert.equal(resident(back('busy')), 0, 'opened while others waited: nothing read');
      vfs.release(ctx, '/busy', busy.fh);
      vfs.release(ctx, '/idle', idle.fh);
    } finally {
      vfs.destroy();
    }
  }));
