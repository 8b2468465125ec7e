import assert from 'node:assert/strict';
import { constants as fsc } from 'node:fs';
import { describe, test } from 'node:test';
import { createMemoryFs } from '../../src/backends/memory.ts';
import type { SyncVfs } from '../../src/backends/tree-fs.ts';
import { E } from '../../src/vfs/errors.ts';
import type { DirListing } from '../../src/vfs/dir-listing.ts';
import type { OpContext } from '../../src/vfs/types.ts';
import { fails, returnsFailure, sync } from '../helpers/vfs.ts';
import { S_IFMT, S_IFREG, S_IFDIR, S_IFLNK, S_IFIFO, S_IFCHR, S_IFSOCK, S_ISGID } from '../../src/vfs/mode.ts';

const ctx: OpContext = { uid: 1000, gid: 1000, pid: 1, unique: 0 };
const root: OpContext = { uid: 0, gid: 0, pid: 1, unique: 0 };
const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const names = (l: DirListing): string[] => l.toArray().map((e) => e.name);
const withoutDots = (l: DirListing) => l.toArray().filter((e) => e.name !== '.' && e.name !== '..');
const RW = fsc.O_RDWR;

function fresh(sizeBytes = 64 * MiB, maxInodes?: number): SyncVfs {
  return createMemoryFs({ sizeBytes, maxInodes, rootMode: 0o777 });
}

/** Creates `path` with `data`, returns the open fh. */
function put(fs: SyncVfs, path: string, data: Buffer | string, mode = 0o644): number {
  const { fh } = fs.create(ctx, path, RW, mode);
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  if (buf.length > 0) assert.equal(fs.write(ctx, path, fh, buf, 0), buf.length);
  return fh;
}

function readAll(fs: SyncVfs, path: string, fh: number, offset = 0, length = 1 * MiB): Buffer {
  const into = Buffer.alloc(length);
  return into.subarray(0, fs.read(ctx, path, fh, into, offset));
}

function cat(fs: SyncVfs, path: string): string {
  const { fh } = fs.open(ctx, path, fsc.O_RDONLY);
  try {
    return readAll(fs, path, fh).toString();
  } finally {
    fs.release(ctx, path, fh);
  }
}

describe('namespace', () => {
  test('root is inode 1, a directory with nlink 2', () => {
    const a = sync(fresh().getattr(ctx, '/'));
    assert.equal(a.ino, 1);
    assert.equal(a.mode, S_IFDIR | 0o777);
    assert.equal(a.nlink, 2);
  });

  test('files and directories get the caller as owner, mode & 07777 plus type bits', () => {
    const fs = fresh();
    const d = fs.mkdir(ctx, '/d', 0o40755 & 0o7777);
    assert.equal(d.mode, S_IFDIR | 0o755);
    assert.equal(d.uid, 1000);
    assert.equal(d.gid, 1000);
    const { attr } = fs.create(ctx, '/d/f', RW, 0o100640);
    assert.equal(attr.mode, S_IFREG | 0o640);
    assert.notEqual(attr.ino, d.ino);
    assert.equal(attr.nlink, 1);
    assert.equal(attr.size, 0);
    assert.equal(attr.blksize, 64 * 1024, 'a regular file: its unit of allocation, a chunk');
    assert.equal(d.blksize, 4096);
  });

  test('directory nlink is 2 + subdirectories', () => {
    const fs = fresh();
    fs.mkdir(ctx, '/a', 0o755);
    fs.mkdir(ctx, '/a/b', 0o755);
    fs.mkdir(ctx, '/a/c', 0o755);
    fs.create(ctx, '/a/f', RW, 0o644);
    assert.equal(sync(fs.getattr(ctx, '/a')).nlink, 4);
    assert.equal(sync(fs.getattr(ctx, '/')).nlink, 3);
    fs.rmdir(ctx, '/a/b');
    assert.equal(sync(fs.getattr(ctx, '/a')).nlink, 3);
  });

  test('a missing name and an absent xattr are returned, not thrown', () => {
    const fs = fresh();
    put(fs, '/f', 'x');
    returnsFailure(() => fs.getattr(ctx, '/missing'), E.ENOENT);
    returnsFailure(() => fs.getattr(ctx, '/f/x'), E.ENOTDIR);
    returnsFailure(() => fs.getxattr(ctx, '/f', 'security.capability'), E.ENODATA);
  });

  test('path walk errors', () => {
    const fs = fresh();
    put(fs, '/f', 'x');
    fails(() => fs.getattr(ctx, '/missing'), E.ENOENT);
    fails(() => fs.getattr(ctx, '/missing/x'), E.ENOENT);
    fails(() => fs.getattr(ctx, '/f/x'), E.ENOTDIR);
    fails(() => fs.mkdir(ctx, '/f/x', 0o755), E.ENOTDIR);
    fails(() => fs.mkdir(ctx, '/nope/x', 0o755), E.ENOENT);
    fails(() => fs.mkdir(ctx, '/f', 0o755), E.EEXIST);
    fails(() => fs.mkdir(ctx, '/', 0o755), E.EEXIST);
    fails(() => fs.create(ctx, '/f', RW | fsc.O_EXCL, 0o644), E.EEXIST);
    fails(() => fs.access(ctx, '/missing', 0), E.ENOENT);
    fs.access(ctx, '/f', 4);
  });

  test('names are limited to 255 bytes', () => {
    const fs = fresh();
    fs.mkdir(ctx, '/' + 'a'.repeat(255), 0o755);
    fails(() => fs.mkdir(ctx, '/' + 'a'.repeat(256), 0o755), E.ENAMETOOLONG);
    fails(() => fs.getattr(ctx, '/' + 'b'.repeat(300)), E.ENAMETOOLONG);
    // 86 three-byte characters: 258 bytes in 86 UTF-16 units.
    fails(() => fs.create(ctx, '/' + '€'.repeat(86), RW, 0o644), E.ENAMETOOLONG);
    fs.create(ctx, '/' + '€'.repeat(85), RW, 0o644);
    assert.equal(fs.statfs(ctx, '/').namelen, 255);
  });

  test('unlink, rmdir and their errors', () => {
    const fs = fresh();
    fs.mkdir(ctx, '/d', 0o755);
    put(fs, '/d/f', 'x');
    fails(() => fs.unlink(ctx, '/d'), E.EISDIR);
    fails(() => fs.rmdir(ctx, '/d/f'), E.ENOTDIR);
    fails(() => fs.rmdir(ctx, '/d'), E.ENOTEMPTY);
    fails(() => fs.rmdir(ctx, '/'), E.EBUSY);
    fails(() => fs.unlink(ctx, '/d/nope'), E.ENOENT);
    fs.unlink(ctx, '/d/f');
    fs.rmdir(ctx, '/d');
    fails(() => fs.getattr(ctx, '/d'), E.ENOENT);
    assert.deepEqual(names(fs.readdir(ctx, '/', fs.opendir(ctx, '/').fh, 0n)), ['.', '..']);
  });

  test('changing entries updates the parent mtime and ctime', async () => {
    const fs = fresh();
    fs.mkdir(ctx, '/d', 0o755);
    const before = sync(fs.getattr(ctx, '/d'));
    fs.create(ctx, '/d/f', RW, 0o644);
    const after = sync(fs.getattr(ctx, '/d'));
    assert.ok(after.mtimeMs > before.mtimeMs);
    assert.ok(after.ctimeMs > before.ctimeMs);
    fs.unlink(ctx, '/d/f');
    assert.ok(sync(fs.getattr(ctx, '/d')).mtimeMs > after.mtimeMs);
  });

  test('a directory of 10,000 entries', () => {
    const fs = fresh();
    fs.mkdir(ctx, '/big', 0o755);
    for (let i = 0; i < 10_000; i++) fs.mknod(ctx, `/big/entry-${i}`, S_IFREG | 0o644, 0);
    const { fh } = fs.opendir(ctx, '/big');
    const list = withoutDots(fs.readdir(ctx, '/big', fh, 0n));
    fs.releasedir(ctx, '/big', fh);
    assert.equal(list.length, 10_000);
    assert.ok(list.every((e) => e.type === S_IFREG && e.ino > 1));
    assert.equal(new Set(list.map((e) => e.name)).size, 10_000);
    assert.equal(new Set(list.map((e) => e.ino)).size, 10_000);
    assert.equal(sync(fs.getattr(ctx, '/big/entry-9999')).ino, list.find((e) => e.name === 'entry-9999')!.ino);
    const open = fs.opendir(ctx, '/big').fh;
    const before = fs.readdir(ctx, '/big', open, 0n);
    for (let i = 0; i < 10_000; i += 2) fs.unlink(ctx, `/big/entry-${i}`);
    assert.equal(fs.readdir(ctx, '/big', fs.opendir(ctx, '/big').fh, 0n).length, 2 + 5_000);
    // Going on after entry-5000 (removed since): entry-5001 and the odd ones after it, none skipped.
    const k = before.toArray().findIndex((e) => e.name === 'entry-5000');
    assert.deepEqual(
      withoutDots(fs.readdir(ctx, '/big', open, before.cookie(k))).map((e) => e.name),
      Array.from({ length: 2_500 }, (_, i) => `entry-${5001 + 2 * i}`),
    );
    fs.releasedir(ctx, '/big', open);
    assert.equal(fs.statfs(ctx, '/').ffree, 1_000_000 - 2 - 5_000);
  });

  test('maxInodes caps the number of inodes', () => {
    const fs = fresh(MiB, 3);
    fs.mkdir(ctx, '/a', 0o755);
    fs.create(ctx, '/b', RW, 0o644);
    fails(() => fs.mkdir(ctx, '/c', 0o755), E.ENOSPC);
    const s = fs.statfs(ctx, '/');
    assert.equal(s.files, 3);
    assert.equal(s.ffree, 0);
    fs.rmdir(ctx, '/a');
    fs.mkdir(ctx, '/c', 0o755);
  });

  test('readdir reports types and inode numbers', () => {
    const fs = fresh();
    fs.mkdir(ctx, '/d', 0o755);
    const f = fs.create(ctx, '/f', RW, 0o644).attr;
    fs.symlink(ctx, 'f', '/l');
    fs.mknod(ctx, '/p', S_IFIFO | 0o644, 0);
    const list = withoutDots(fs.readdir(ctx, '/', fs.opendir(ctx, '/').fh, 0n));
    const byName = Object.fromEntries(list.map((e) => [e.name, e]));
    assert.deepEqual(Object.keys(byName).sort(), ['d', 'f', 'l', 'p']);
    assert.equal(byName.d.type, S_IFDIR);
    assert.equal(byName.f.type, S_IFREG);
    assert.equal(byName.f.ino, f.ino);
    assert.equal(byName.l.type, S_IFLNK);
    assert.equal(byName.p.type, S_IFIFO);
    fails(() => fs.opendir(ctx, '/f'), E.ENOTDIR);
  });
});

describe('links and special files', () => {
  test('hard links share one inode', () => {
    const fs = fresh();
    const fh = put(fs, '/a', 'hello');
    const before = sync(fs.getattr(ctx, '/a'));
    const l = fs.link(ctx, '/a', '/b');
    assert.equal(l.ino, before.ino);
    assert.equal(l.nlink, 2);
    assert.ok(l.ctimeMs > before.ctimeMs);
    fs.write(ctx, '/a', fh, Buffer.from('J'), 0);
    assert.equal(cat(fs, '/b'), 'Jello');
    fs.unlink(ctx, '/a');
    assert.equal(sync(fs.getattr(ctx, '/b')).nlink, 1);
    assert.equal(cat(fs, '/b'), 'Jello');
    fails(() => fs.link(ctx, '/b', '/b'), E.EEXIST);
    fails(() => fs.link(ctx, '/nope', '/c'), E.ENOENT);
    fs.mkdir(ctx, '/d', 0o755);
    fails(() => fs.link(ctx, '/d', '/e'), E.EPERM);
  });

  test('symlinks: target, size in bytes, readlink errors', () => {
    const fs = fresh();
    const a = fs.symlink(ctx, 'dir/ünïcode', '/l');
    assert.equal(a.mode, S_IFLNK | 0o777);
    assert.equal(a.size, Buffer.byteLength('dir/ünïcode'));
    assert.equal(fs.readlink(ctx, '/l'), 'dir/ünïcode');
    put(fs, '/f', '');
    fails(() => fs.readlink(ctx, '/f'), E.EINVAL);
    fails(() => fs.symlink(ctx, 'x', '/l'), E.EEXIST);
    fails(() => fs.symlink(ctx, '', '/m'), E.ENOENT);
    fails(() => fs.symlink(ctx, 'x'.repeat(4096), '/m'), E.ENAMETOOLONG);
  });

  test('mknod stores fifos, devices and sockets', () => {
    const fs = fresh();
    assert.equal(fs.mknod(ctx, '/p', S_IFIFO | 0o600, 0).mode, S_IFIFO | 0o600);
    const c = fs.mknod(ctx, '/c', S_IFCHR | 0o666, 0x0103);
    assert.equal(c.mode & S_IFMT, S_IFCHR);
    assert.equal(c.rdev, 0x0103);
    assert.equal(fs.mknod(ctx, '/s', S_IFSOCK | 0o755, 0).mode, S_IFSOCK | 0o755);
    assert.equal(fs.mknod(ctx, '/r', 0o644, 0).mode, S_IFREG | 0o644);
    fails(() => fs.mknod(ctx, '/d', S_IFDIR | 0o755, 0), E.EPERM);
  });

  test('setgid directories hand down their group, and setgid to subdirectories', () => {
    const fs = fresh();
    fs.mkdir(root, '/shared', 0o2775);
    fs.setattr(root, '/shared', { gid: 500 });
    assert.equal(sync(fs.getattr(ctx, '/shared')).mode, S_IFDIR | S_ISGID | 0o775);
    const f = fs.create(ctx, '/shared/f', RW, 0o644).attr;
    assert.equal(f.uid, 1000);
    assert.equal(f.gid, 500);
    assert.equal(f.mode, S_IFREG | 0o644);
    const d = fs.mkdir(ctx, '/shared/sub', 0o755);
    assert.equal(d.gid, 500);
    assert.equal(d.mode, S_IFDIR | S_ISGID | 0o755);
    assert.equal(fs.mkdir(ctx, '/shared/sub/deeper', 0o700).mode, S_IFDIR | S_ISGID | 0o700);
    assert.equal(fs.symlink(ctx, 'f', '/shared/l').gid, 500);
    assert.equal(fs.mkdir(ctx, '/plain', 0o755).gid, 1000);
  });
});

describe('rename', () => {
  test('moves a file and replaces an existing one', () => {
    const fs = fresh();
    fs.mkdir(ctx, '/d', 0o755);
    put(fs, '/a', 'A');
    const b = put(fs, '/d/b', 'B');
    const { ino, ctimeMs } = sync(fs.getattr(ctx, '/a'));
    const dir = sync(fs.getattr(ctx, '/d'));
    fs.rename(ctx, '/a', '/d/b', 0);
    assert.ok(sync(fs.getattr(ctx, '/d/b')).ctimeMs > ctimeMs);
    assert.ok(sync(fs.getattr(ctx, '/d')).mtimeMs > dir.mtimeMs);
    fails(() => fs.getattr(ctx, '/a'), E.ENOENT);
    assert.equal(sync(fs.getattr(ctx, '/d/b')).ino, ino);
    assert.equal(cat(fs, '/d/b'), 'A');
    // The replaced inode lives on through its open handle.
    assert.equal(readAll(fs, '/d/b', b).toString(), 'B');
    assert.equal(sync(fs.getattr(ctx, '/d/b', b)).nlink, 0);
  });

  test('directories: replace an empty one, not a full one, and keep nlink right', () => {
    const fs = fresh();
    fs.mkdir(ctx, '/a', 0o755);
    fs.mkdir(ctx, '/a/x', 0o755);
    fs.mkdir(ctx, '/b', 0o755);
    fs.mkdir(ctx, '/b/empty', 0o755);
    fs.mkdir(ctx, '/b/full', 0o755);
    put(fs, '/b/full/f', '');
    fails(() => fs.rename(ctx, '/a/x', '/b/full', 0), E.ENOTEMPTY);
    fs.rename(ctx, '/a/x', '/b/empty', 0);
    assert.equal(sync(fs.getattr(ctx, '/a')).nlink, 2);
    assert.equal(sync(fs.getattr(ctx, '/b')).nlink, 4);
    fs.rename(ctx, '/b/empty', '/a/y', 0);
    assert.equal(sync(fs.getattr(ctx, '/a')).nlink, 3);
    assert.equal(sync(fs.getattr(ctx, '/b')).nlink, 3);
  });

  test('type mismatches and moving a directory into itself', () => {
    const fs = fresh();
    fs.mkdir(ctx, '/d', 0o755);
    fs.mkdir(ctx, '/d/sub', 0o755);
    put(fs, '/f', '');
    fails(() => fs.rename(ctx, '/d', '/f', 0), E.ENOTDIR);
    fails(() => fs.rename(ctx, '/f', '/d', 0), E.EISDIR);
    fails(() => fs.rename(ctx, '/d', '/d/sub/x', 0), E.EINVAL);
    fails(() => fs.rename(ctx, '/d', '/d/x', 0), E.EINVAL);
    fails(() => fs.rename(ctx, '/d/sub', '/d', 0), E.ENOTEMPTY);
    fails(() => fs.rename(ctx, '/nope', '/x', 0), E.ENOENT);
    fails(() => fs.rename(ctx, '/f', '/nope/x', 0), E.ENOENT);
    fails(() => fs.rename(ctx, '/', '/x', 0), E.EBUSY);
    fs.rename(ctx, '/d', '/d', 0);
    assert.equal(sync(fs.getattr(ctx, '/d/sub')).mode & S_IFMT, S_IFDIR);
  });

  test('renaming onto another link of the same inode does nothing', () => {
    const fs = fresh();
    put(fs, '/a', 'x');
    fs.link(ctx, '/a', '/b');
    fs.rename(ctx, '/a', '/b', 0);
    assert.equal(sync(fs.getattr(ctx, '/a')).nlink, 2);
    assert.equal(sync(fs.getattr(ctx, '/b')).nlink, 2);
  });

  test('RENAME_NOREPLACE refuses an existing target', () => {
    const fs = fresh();
    put(fs, '/a', 'A');
    put(fs, '/b', 'B');
    fails(() => fs.rename(ctx, '/a', '/b', 1), E.EEXIST);
    assert.equal(cat(fs, '/b'), 'B');
    fs.rename(ctx, '/a', '/c', 1);
    assert.equal(cat(fs, '/c'), 'A');
    fails(() => fs.rename(ctx, '/c', '/d', 3), E.EINVAL);
    fails(() => fs.rename(ctx, '/c', '/d', 8), E.EINVAL);
  });

  test('RENAME_EXCHANGE swaps a file and a directory across parents', () => {
    const fs = fresh();
    fs.mkdir(ctx, '/p', 0o755);
    fs.mkdir(ctx, '/q', 0o755);
    put(fs, '/p/f', 'F');
    fs.mkdir(ctx, '/q/d', 0o755);
    put(fs, '/q/d/inner', 'I');
    const f = sync(fs.getattr(ctx, '/p/f')).ino;
    const d = sync(fs.getattr(ctx, '/q/d')).ino;
    fs.rename(ctx, '/p/f', '/q/d', 2);
    assert.equal(sync(fs.getattr(ctx, '/p/f')).ino, d);
    assert.equal(sync(fs.getattr(ctx, '/q/d')).ino, f);
    assert.equal(cat(fs, '/p/f/inner'), 'I');
    assert.equal(cat(fs, '/q/d'), 'F');
    assert.equal(sync(fs.getattr(ctx, '/p')).nlink, 3);
    assert.equal(sync(fs.getattr(ctx, '/q')).nlink, 2);
    fails(() => fs.rename(ctx, '/p/f', '/q/none', 2), E.ENOENT);
    fails(() => fs.rename(ctx, '/p', '/p/f/inner', 2), E.EINVAL);
    fails(() => fs.rename(ctx, '/p/f/inner', '/p', 2), E.EINVAL);
  });
});

describe('attributes', () => {
  test('chmod keeps the type bits and changes ctime only', () => {
    const fs = fresh();
    const before = fs.create(ctx, '/f', RW, 0o644).attr;
    const a = fs.setattr(ctx, '/f', { mode: 0o4755 });
    assert.equal(a.mode, S_IFREG | 0o4755);
    assert.equal(a.mtimeMs, before.mtimeMs);
    assert.ok(a.ctimeMs > before.ctimeMs);
  });

  test('chown, utimes and explicit or current times', () => {
    const fs = fresh();
    fs.create(ctx, '/f', RW, 0o644);
    const a = fs.setattr(root, '/f', { uid: 7, gid: 8, atime: 1000.5, mtime: 2000.25 });
    assert.equal(a.uid, 7);
    assert.equal(a.gid, 8);
    assert.equal(a.atimeMs, 1000.5);
    assert.equal(a.mtimeMs, 2000.25);
    const t = Date.now();
    const b = fs.setattr(ctx, '/f', { atime: 'now', mtime: 'now' });
    assert.ok(Math.abs(b.atimeMs - t) < 1000 && Math.abs(b.mtimeMs - t) < 1000);
    assert.equal(fs.setattr(ctx, '/f', { ctime: 5 }).ctimeMs, 5);
  });

  test('truncate via setattr: sizes, times, and only on regular files', () => {
    const fs = fresh();
    const fh = put(fs, '/f', 'hello world');
    const before = sync(fs.getattr(ctx, '/f'));
    const a = fs.setattr(ctx, '/f', { size: 5 });
    assert.equal(a.size, 5);
    assert.ok(a.mtimeMs > before.mtimeMs && a.ctimeMs > before.ctimeMs);
    fs.setattr(ctx, '/f', { size: 10 });
    assert.deepEqual(readAll(fs, '/f', fh), Buffer.concat([Buffer.from('hello'), Buffer.alloc(5)]));
    fs.mkdir(ctx, '/d', 0o755);
    fails(() => fs.setattr(ctx, '/d', { size: 0 }), E.EISDIR);
    fs.symlink(ctx, 'f', '/l');
    fails(() => fs.setattr(ctx, '/l', { size: 0 }), E.EINVAL);
    fails(() => fs.setattr(ctx, '/f', { size: -1 }), E.EINVAL);
  });

  test('write updates mtime and ctime', () => {
    const fs = fresh();
    const fh = put(fs, '/f', '');
    const before = sync(fs.getattr(ctx, '/f'));
    fs.write(ctx, '/f', fh, Buffer.from('x'), 0);
    const after = sync(fs.getattr(ctx, '/f'));
    assert.ok(after.mtimeMs > before.mtimeMs && after.ctimeMs > before.ctimeMs);
  });
});

describe('open files', () => {
  test('an unlinked file stays usable through its handle until released', () => {
    const fs = fresh(MiB);
    const fh = put(fs, '/f', Buffer.alloc(512 * KiB, 1));
    const ino = sync(fs.getattr(ctx, '/f')).ino;
    const used = fs.statfs(ctx, '/').bfree;
    fs.unlink(ctx, '/f');
    fails(() => fs.getattr(ctx, '/f'), E.ENOENT);
    const a = sync(fs.getattr(ctx, '/f', fh));
    assert.equal(a.ino, ino);
    assert.equal(a.nlink, 0);
    assert.equal(fs.write(ctx, '/f', fh, Buffer.from('tail'), 512 * KiB), 4);
    assert.equal(readAll(fs, '/f', fh, 512 * KiB).toString(), 'tail');
    assert.equal(fs.setattr(ctx, '/f', { size: 100, mode: 0o600 }, fh).size, 100);
    assert.equal(sync(fs.getattr(ctx, '/f', fh)).mode, S_IFREG | 0o600);
    // Space comes back with the last handle, not with the last name.
    assert.equal(fs.statfs(ctx, '/').bfree, used + 512 / 4 - 1);
    fs.release(ctx, '/f', fh);
    assert.equal(fs.statfs(ctx, '/').bfree, MiB / 4096);
    fails(() => fs.read(ctx, '/f', fh, Buffer.alloc(1), 0), E.EBADF);
  });

  test('a removed directory still open lists as empty', () => {
    const fs = fresh();
    fs.mkdir(ctx, '/d', 0o755);
    const { fh } = fs.opendir(ctx, '/d');
    fs.rmdir(ctx, '/d');
    assert.deepEqual(fs.readdir(ctx, '/d', fh, 0n).toArray(), [], 'not even . and .., as on Linux');
    assert.equal(sync(fs.getattr(ctx, '/d', fh)).nlink, 0);
    fs.releasedir(ctx, '/d', fh);
  });

  test('O_APPEND writes at the end whatever the offset', () => {
    const fs = fresh();
    put(fs, '/log', 'one\n');
    const { fh } = fs.open(ctx, '/log', fsc.O_WRONLY | fsc.O_APPEND);
    assert.equal(fs.write(ctx, '/log', fh, Buffer.from('two\n'), 0), 4);
    assert.equal(fs.write(ctx, '/log', fh, Buffer.from('three\n'), 1), 6);
    assert.equal(cat(fs, '/log'), 'one\ntwo\nthree\n');
  });

  test('O_TRUNC on open and on create of an existing file', () => {
    const fs = fresh();
    put(fs, '/f', 'data');
    fs.open(ctx, '/f', fsc.O_WRONLY | fsc.O_TRUNC);
    assert.equal(sync(fs.getattr(ctx, '/f')).size, 0);
    put(fs, '/g', 'data');
    const { attr } = fs.create(ctx, '/g', fsc.O_WRONLY | fsc.O_TRUNC, 0o644);
    assert.equal(attr.size, 0);
    assert.equal(sync(fs.getattr(ctx, '/g')).blocks, 0);
  });

  test('reads stop at EOF; bad handles are EBADF; directories are EISDIR', () => {
    const fs = fresh();
    const fh = put(fs, '/f', 'abc');
    const into = Buffer.alloc(10, 0xff);
    assert.equal(fs.read(ctx, '/f', fh, into, 1), 2);
    assert.equal(into.subarray(0, 2).toString(), 'bc');
    assert.equal(fs.read(ctx, '/f', fh, into, 3), 0);
    assert.equal(fs.read(ctx, '/f', fh, into, 100), 0);
    fails(() => fs.write(ctx, '/f', 999, into, 0), E.EBADF);
    const d = fs.opendir(ctx, '/').fh;
    fails(() => fs.read(ctx, '/', d, into, 0), E.EISDIR);
  });
});

describe('data', () => {
  test('a write at 5 GiB stays sparse, and holes read as zeros', () => {
    const fs = fresh(16 * MiB);
    const fh = put(fs, '/sparse', '');
    const at = 5 * GiB;
    assert.equal(fs.write(ctx, '/sparse', fh, Buffer.from('far away'), at), 8);
    const a = sync(fs.getattr(ctx, '/sparse'));
    assert.equal(a.size, at + 8);
    assert.equal(a.blocks, 4096 / 512);
    assert.deepEqual(readAll(fs, '/sparse', fh, 0, 128 * KiB), Buffer.alloc(128 * KiB));
    assert.deepEqual(readAll(fs, '/sparse', fh, at - 100, 200), Buffer.concat([Buffer.alloc(100), Buffer.from('far away')]));
    assert.deepEqual(readAll(fs, '/sparse', fh, 3 * GiB, 64), Buffer.alloc(64));
  });

  test('writes and reads across chunk boundaries match a model', () => {
    const fs = fresh(64 * MiB);
    const fh = put(fs, '/f', '');
    const model = Buffer.alloc(600 * KiB);
    let size = 0;
    let seed = 42;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 300; i++) {
      const op = rand(10);
      const off = rand(500 * KiB);
      const len = 1 + rand(100 * KiB);
      if (op < 7) {
        const data = Buffer.alloc(len, 1 + (i % 250));
        fs.write(ctx, '/f', fh, data, off);
        data.copy(model, off);
        size = Math.max(size, off + len);
      } else if (op < 9) {
        fs.setattr(ctx, '/f', { size: off }, fh);
        if (off < size) model.fill(0, off);
        size = off;
      } else {
        fs.fallocate!(ctx, '/f', fh, 3, off, len);
        model.fill(0, off, Math.min(off + len, size));
      }
      assert.equal(sync(fs.getattr(ctx, '/f', fh)).size, size);
    }
    assert.deepEqual(readAll(fs, '/f', fh, 0, 700 * KiB), model.subarray(0, size));
    assert.deepEqual(readAll(fs, '/f', fh, 12345, 77777), model.subarray(12345, Math.min(size, 12345 + 77777)));
  });

  test('small files cost whole 4 KiB pages, and append slack is trimmed on release', () => {
    const fs = fresh();
    const fh = put(fs, '/f', 'x');
    assert.equal(sync(fs.getattr(ctx, '/f')).blocks, 8);
    for (let i = 1; i < 5; i++) fs.write(ctx, '/f', fh, Buffer.alloc(4 * KiB, i), 1 + (i - 1) * 4 * KiB);
    assert.ok(sync(fs.getattr(ctx, '/f')).blocks >= 40);
    fs.release(ctx, '/f', fh);
    assert.equal(sync(fs.getattr(ctx, '/f')).blocks, (20 * KiB) / 512);
    assert.equal(fs.statfs(ctx, '/').bfree, (64 * MiB) / 4096 - 5);
  });

  test('the size cap: statfs before and after, short write, then ENOSPC', () => {
    const fs = fresh(MiB);
    const empty = fs.statfs(ctx, '/');
    assert.deepEqual(
      { blocks: empty.blocks, bfree: empty.bfree, bavail: empty.bavail, bsize: empty.bsize, frsize: empty.frsize },
      { blocks: 256, bfree: 256, bavail: 256, bsize: 4096, frsize: 4096 },
    );
    const fh = put(fs, '/a', Buffer.alloc(768 * KiB, 7));
    assert.equal(fs.statfs(ctx, '/').bfree, 64);
    const b = put(fs, '/b', '');
    assert.equal(fs.write(ctx, '/b', b, Buffer.alloc(512 * KiB, 8), 0), 256 * KiB);
    assert.equal(fs.statfs(ctx, '/').bfree, 0);
    fails(() => fs.write(ctx, '/b', b, Buffer.alloc(1), 256 * KiB), E.ENOSPC);
    const c = put(fs, '/c', '');
    fails(() => fs.write(ctx, '/c', c, Buffer.alloc(1), 0), E.ENOSPC);
    // Overwriting allocated bytes needs no space.
    assert.equal(fs.write(ctx, '/a', fh, Buffer.alloc(100, 9), 10), 100);
    // Holes need no space either.
    fs.setattr(ctx, '/b', { size: GiB });
    fs.setattr(ctx, '/a', { size: 256 * KiB });
    assert.equal(fs.statfs(ctx, '/').bfree, 128);
    fs.unlink(ctx, '/b');
    assert.equal(fs.statfs(ctx, '/').bfree, 128, 'still open');
    fs.release(ctx, '/b', b);
    assert.equal(fs.statfs(ctx, '/').bfree, 192);
    assert.equal(fs.write(ctx, '/c', c, Buffer.alloc(10), 0), 10);
  });

  test('lseek SEEK_DATA and SEEK_HOLE follow the allocated chunks', () => {
    const fs = fresh();
    const fh = put(fs, '/f', '');
    fs.write(ctx, '/f', fh, Buffer.alloc(10, 1), MiB);
    fs.write(ctx, '/f', fh, Buffer.alloc(128 * KiB, 2), 4 * MiB);
    fs.setattr(ctx, '/f', { size: 8 * MiB });
    const seek = (off: number, whence: number): number => fs.lseek!(ctx, '/f', fh, off, whence);
    assert.equal(seek(0, 3), MiB);
    assert.equal(seek(MiB + 5, 3), MiB + 5);
    assert.equal(seek(MiB + 10, 3), MiB + 10, 'data is kept in whole pages');
    assert.equal(seek(MiB + 4 * KiB, 3), 4 * MiB);
    assert.equal(seek(0, 4), 0);
    assert.equal(seek(MiB, 4), MiB + 4 * KiB);
    assert.equal(seek(4 * MiB + 1, 4), 4 * MiB + 128 * KiB);
    fails(() => seek(5 * MiB, 3), E.ENXIO);
    fails(() => seek(8 * MiB, 4), E.ENXIO);
    fails(() => seek(-1, 3), E.ENXIO);
    fails(() => seek(0, 0), E.EINVAL);
    // The end of the file is a hole even when the last byte is data.
    const g = put(fs, '/g', 'abc');
    assert.equal(fs.lseek!(ctx, '/g', g, 1, 4), 3);
    // Data 48 KiB into a chunk: SEEK_DATA finds the chunk's start, within the st_blksize a file reports
    // (as xfstests' seek_sanity_test reads it; 4096 said otherwise).
    const h = put(fs, '/h', '');
    fs.write(ctx, '/h', h, Buffer.alloc(10, 3), 4 * MiB + 48 * KiB);
    const found = fs.lseek!(ctx, '/h', h, 4 * MiB + KiB, 3);
    assert.ok(4 * MiB + 48 * KiB - found < sync(fs.getattr(ctx, '/h')).blksize, `SEEK_DATA gave ${found}`);
  });

  test('fallocate allocates, keeps the size, punches holes; other modes are unsupported', () => {
    const fs = fresh(MiB);
    const fh = put(fs, '/f', '');
    fs.fallocate!(ctx, '/f', fh, 0, 0, 256 * KiB);
    let a = sync(fs.getattr(ctx, '/f'));
    assert.equal(a.size, 256 * KiB);
    assert.equal(a.blocks, 512);
    assert.equal(fs.statfs(ctx, '/').bfree, 192);
    fs.fallocate!(ctx, '/f', fh, 1, 256 * KiB, 128 * KiB);
    a = sync(fs.getattr(ctx, '/f'));
    assert.equal(a.size, 256 * KiB);
    assert.equal(a.blocks, 768);
    // All or nothing when space is short.
    fails(() => fs.fallocate!(ctx, '/f', fh, 0, 0, 2 * MiB), E.ENOSPC);
    assert.equal(fs.statfs(ctx, '/').bfree, 160);
    fs.write(ctx, '/f', fh, Buffer.alloc(256 * KiB, 5), 0);
    fs.fallocate!(ctx, '/f', fh, 3, 10, 200 * KiB);
    a = sync(fs.getattr(ctx, '/f'));
    assert.equal(a.size, 256 * KiB);
    assert.ok(a.blocks < 768, 'a whole chunk was freed');
    const back = readAll(fs, '/f', fh, 0, 256 * KiB);
    assert.deepEqual(back.subarray(0, 10), Buffer.alloc(10, 5));
    assert.deepEqual(back.subarray(10, 10 + 200 * KiB), Buffer.alloc(200 * KiB));
    assert.deepEqual(back.subarray(10 + 200 * KiB), Buffer.alloc(256 * KiB - 10 - 200 * KiB, 5));
    assert.equal(fs.lseek!(ctx, '/f', fh, 64 * KiB, 3), 128 * KiB + 64 * KiB);
    fails(() => fs.fallocate!(ctx, '/f', fh, 2, 0, 10), E.EOPNOTSUPP);
    fails(() => fs.fallocate!(ctx, '/f', fh, 0x20, 0, 10), E.EOPNOTSUPP, 'collapse range');
    fails(() => fs.fallocate!(ctx, '/f', fh, 0, 0, 0), E.EINVAL);
  });

  test('fallocate FALLOC_FL_ZERO_RANGE: zeros that stay allocated, the size grown unless KEEP_SIZE, nothing changed on ENOSPC', () => {
    const fs = fresh(MiB);
    const fh = put(fs, '/f', '');
    fs.write(ctx, '/f', fh, Buffer.alloc(256 * KiB, 7), 0);
    fs.fallocate!(ctx, '/f', fh, 0x10, 10, 200 * KiB);
    let a = sync(fs.getattr(ctx, '/f'));
    assert.equal(a.size, 256 * KiB);
    assert.equal(a.blocks, 512, 'the zeroed range keeps its room');
    const back = readAll(fs, '/f', fh, 0, 256 * KiB);
    assert.deepEqual(back.subarray(0, 10), Buffer.alloc(10, 7));
    assert.deepEqual(back.subarray(10, 10 + 200 * KiB), Buffer.alloc(200 * KiB));
    assert.deepEqual(back.subarray(10 + 200 * KiB), Buffer.alloc(256 * KiB - 10 - 200 * KiB, 7));
    fs.fallocate!(ctx, '/f', fh, 0x10 | 1, 250 * KiB, 64 * KiB);
    assert.equal(sync(fs.getattr(ctx, '/f')).size, 256 * KiB, 'KEEP_SIZE');
    fs.fallocate!(ctx, '/f', fh, 0x10, 250 * KiB, 64 * KiB);
    a = sync(fs.getattr(ctx, '/f'));
    assert.equal(a.size, 314 * KiB, 'grown to the end of the range');
    assert.deepEqual(readAll(fs, '/f', fh, 240 * KiB, 74 * KiB), Buffer.concat([Buffer.alloc(10 * KiB, 7), Buffer.alloc(64 * KiB)]));
    fails(() => fs.fallocate!(ctx, '/f', fh, 0x10, 0, 2 * MiB), E.ENOSPC);
    assert.deepEqual(readAll(fs, '/f', fh, 0, 10), Buffer.alloc(10, 7), 'ENOSPC zeroed nothing');
  });

  test('copyFileRange copies data, keeps holes, stops at EOF', () => {
    const fs = fresh();
    const src = put(fs, '/src', 'hello world');
    fs.write(ctx, '/src', src, Buffer.from('tail'), 2 * MiB);
    const dst = put(fs, '/dst', 'XXXXXXXXXXXXXXXX');
    const from = (offset: number) => ({ path: '/src', fh: src, offset });
    const to = (offset: number) => ({ path: '/dst', fh: dst, offset });
    assert.equal(fs.copyFileRange!(ctx, from(6), to(2), 5, 0), 5);
    assert.equal(cat(fs, '/dst'), 'XXworldXXXXXXXXX');
    assert.equal(fs.copyFileRange!(ctx, from(0), to(0), 10 * MiB, 0), 2 * MiB + 4);
    const a = sync(fs.getattr(ctx, '/dst'));
    assert.equal(a.size, 2 * MiB + 4);
    assert.equal(a.blocks, 16, 'the hole was not filled in');
    assert.deepEqual(readAll(fs, '/dst', dst, 0, 16), Buffer.concat([Buffer.from('hello world'), Buffer.alloc(5)]));
    assert.equal(readAll(fs, '/dst', dst, 2 * MiB).toString(), 'tail');
    assert.equal(fs.copyFileRange!(ctx, from(3 * MiB), to(0), 10, 0), 0);
    fails(() => fs.copyFileRange!(ctx, from(0), { path: '/src', fh: src, offset: 5 }, 10, 0), E.EINVAL);
    assert.equal(fs.copyFileRange!(ctx, from(0), { path: '/src', fh: src, offset: 100 }, 5, 0), 5);
    assert.equal(readAll(fs, '/src', src, 100, 5).toString(), 'hello');
    fails(() => fs.copyFileRange!(ctx, from(0), to(0), 1, 1), E.EINVAL);
    const app = fs.open(ctx, '/dst', fsc.O_WRONLY | fsc.O_APPEND).fh;
    fails(() => fs.copyFileRange!(ctx, from(0), { path: '/dst', fh: app, offset: 0 }, 1, 0), E.EBADF);
  });
});

describe('xattrs', () => {
  test('create, replace, get, list, remove', () => {
    const fs = fresh();
    put(fs, '/f', '');
    fs.setxattr(ctx, '/f', 'user.a', Buffer.from('1'), 0);
    fails(() => fs.setxattr(ctx, '/f', 'user.a', Buffer.from('2'), 1), E.EEXIST);
    fails(() => fs.setxattr(ctx, '/f', 'user.b', Buffer.from('2'), 2), E.ENODATA);
    fs.setxattr(ctx, '/f', 'user.a', Buffer.from('22'), 2);
    fs.setxattr(ctx, '/f', 'user.b', Buffer.alloc(0), 1);
    assert.equal(sync(fs.getxattr(ctx, '/f', 'user.a')).toString(), '22');
    assert.equal(sync(fs.getxattr(ctx, '/f', 'user.b')).length, 0);
    assert.deepEqual(fs.listxattr(ctx, '/f').sort(), ['user.a', 'user.b']);
    fails(() => fs.getxattr(ctx, '/f', 'user.none'), E.ENODATA);
    fs.removexattr(ctx, '/f', 'user.a');
    fails(() => fs.removexattr(ctx, '/f', 'user.a'), E.ENODATA);
    assert.deepEqual(fs.listxattr(ctx, '/f'), ['user.b']);
    fs.mkdir(ctx, '/d', 0o755);
    assert.deepEqual(fs.listxattr(ctx, '/d'), []);
  });

  test('limits: names over 255 bytes, values over 64 KiB', () => {
    const fs = fresh();
    put(fs, '/f', '');
    fails(() => fs.setxattr(ctx, '/f', 'user.' + 'n'.repeat(251), Buffer.alloc(1), 0), E.ERANGE);
    fs.setxattr(ctx, '/f', 'user.' + 'n'.repeat(250), Buffer.alloc(64 * KiB), 0);
    fails(() => fs.setxattr(ctx, '/f', 'user.big', Buffer.alloc(64 * KiB + 1), 0), E.E2BIG);
  });

  test('values are copies, and count against the size cap', () => {
    const fs = fresh(64 * KiB);
    put(fs, '/f', '');
    const v = Buffer.from('abc');
    fs.setxattr(ctx, '/f', 'user.v', v, 0);
    v.fill(0);
    const got = sync(fs.getxattr(ctx, '/f', 'user.v'));
    got.fill(1);
    assert.equal(sync(fs.getxattr(ctx, '/f', 'user.v')).toString(), 'abc');
    fs.setxattr(ctx, '/f', 'user.big', Buffer.alloc(60 * KiB), 0);
    fails(() => fs.setxattr(ctx, '/f', 'user.more', Buffer.alloc(8 * KiB), 0), E.ENOSPC);
    fs.removexattr(ctx, '/f', 'user.big');
    fs.setxattr(ctx, '/f', 'user.more', Buffer.alloc(8 * KiB), 0);
  });
});

test('statfs, fsync, flush and fsyncdir succeed', () => {
  const fs = fresh(10 * MiB);
  const fh = put(fs, '/f', 'x');
  fs.flush(ctx, '/f', fh);
  fs.fsync(ctx, '/f', fh, false);
  const d = fs.opendir(ctx, '/').fh;
  fs.fsyncdir(ctx, '/', d, true);
  const s = fs.statfs(ctx, '/');
  assert.equal(s.blocks, 2560);
  assert.equal(s.bfree, 2559);
  assert.equal(s.files, 1_000_000);
  assert.equal(s.ffree, 1_000_000 - 2);
  fs.destroy!();
});
