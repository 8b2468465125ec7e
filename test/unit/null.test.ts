import assert from 'node:assert/strict';
import { constants as fsc } from 'node:fs';
import { describe, test } from 'node:test';
import { createNullFs } from '../../src/backends/null.ts';
import { E } from '../../src/vfs/errors.ts';
import type { OpContext } from '../../src/vfs/types.ts';
import { fails, sync } from '../helpers/vfs.ts';
import { S_IFREG, S_IFDIR } from '../../src/vfs/mode.ts';

const ctx: OpContext = { uid: 1000, gid: 1000, pid: 1, unique: 0 };
const RW = fsc.O_RDWR;
const MiB = 1024 * 1024;

describe('null backend without readSize', () => {
  test('the namespace works like any filesystem', () => {
    const fs = createNullFs({ rootMode: 0o777 });
    fs.mkdir(ctx, '/d', 0o755);
    const { attr } = fs.create(ctx, '/d/f', RW, 0o640);
    assert.equal(attr.mode, S_IFREG | 0o640);
    assert.equal(attr.uid, 1000);
    fs.link(ctx, '/d/f', '/g');
    assert.equal(sync(fs.getattr(ctx, '/g')).nlink, 2);
    fs.symlink(ctx, 'd/f', '/l');
    assert.equal(fs.readlink(ctx, '/l'), 'd/f');
    fs.rename(ctx, '/d', '/e', 0);
    assert.equal(sync(fs.getattr(ctx, '/e/f')).ino, attr.ino);
    fs.setxattr(ctx, '/g', 'user.k', Buffer.from('v'), 0);
    assert.equal(sync(fs.getxattr(ctx, '/e/f', 'user.k')).toString(), 'v');
    fails(() => fs.rmdir(ctx, '/e'), E.ENOTEMPTY);
    fs.unlink(ctx, '/e/f');
    fs.rmdir(ctx, '/e');
    const names = fs
      .readdir(ctx, '/', fs.opendir(ctx, '/').fh, 0n)
      .toArray()
      .map((e) => e.name);
    assert.deepEqual(names.sort(), ['.', '..', 'g', 'l']);
    assert.equal(sync(fs.getattr(ctx, '/')).mode, S_IFDIR | 0o777);
  });

  test('writes succeed and vanish; reads are EOF; size changes only by truncate', () => {
    const fs = createNullFs();
    const { fh } = fs.create(ctx, '/f', RW, 0o644);
    assert.equal(fs.write(ctx, '/f', fh, Buffer.alloc(MiB, 1), 0), MiB);
    assert.equal(fs.write(ctx, '/f', fh, Buffer.alloc(10), 1e12), 10);
    let a = sync(fs.getattr(ctx, '/f'));
    assert.equal(a.size, 0);
    assert.equal(a.blocks, 0);
    assert.equal(fs.read(ctx, '/f', fh, Buffer.alloc(100), 0), 0);
    a = fs.setattr(ctx, '/f', { size: 4096 });
    assert.equal(a.size, 4096);
    assert.equal(fs.read(ctx, '/f', fh, Buffer.alloc(100), 0), 0);
    fs.fallocate!(ctx, '/f', fh, 0, 0, 8192);
    assert.equal(sync(fs.getattr(ctx, '/f')).size, 8192);
    fs.fallocate!(ctx, '/f', fh, 1, 0, 16384);
    assert.equal(sync(fs.getattr(ctx, '/f')).size, 8192);
    fs.open(ctx, '/f', fsc.O_WRONLY | fsc.O_TRUNC);
    assert.equal(sync(fs.getattr(ctx, '/f')).size, 0);
  });

  test('lseek finds no data; copyFileRange copies nothing', () => {
    const fs = createNullFs();
    const a = fs.create(ctx, '/a', RW, 0o644).fh;
    const b = fs.create(ctx, '/b', RW, 0o644).fh;
    fs.setattr(ctx, '/a', { size: 100 });
    fails(() => fs.lseek!(ctx, '/a', a, 0, 3), E.ENXIO);
    assert.equal(fs.lseek!(ctx, '/a', a, 10, 4), 10);
    const n = fs.copyFileRange!(ctx, { path: '/a', fh: a, offset: 0 }, { path: '/b', fh: b, offset: 0 }, 50, 0);
    assert.equal(n, 0);
  });

  test('statfs reports a large, always free capacity', () => {
    const fs = createNullFs({ maxInodes: 10 });
    const { fh } = fs.create(ctx, '/f', RW, 0o644);
    fs.write(ctx, '/f', fh, Buffer.alloc(MiB), 0);
    const s = fs.statfs(ctx, '/');
    assert.ok(s.blocks > 0);
    assert.equal(s.bfree, s.blocks);
    assert.equal(s.bavail, s.blocks);
    assert.equal(s.files, 10);
    assert.equal(s.ffree, 8);
    assert.equal(s.bsize, 4096);
    assert.equal(s.namelen, 255);
  });

  test('an unlinked file stays usable through its handle', () => {
    const fs = createNullFs();
    const { fh } = fs.create(ctx, '/f', RW, 0o644);
    fs.unlink(ctx, '/f');
    assert.equal(fs.write(ctx, '/f', fh, Buffer.from('x'), 0), 1);
    assert.equal(sync(fs.getattr(ctx, '/f', fh)).nlink, 0);
    fs.release(ctx, '/f', fh);
    fails(() => fs.getattr(ctx, '/f', fh), E.ENOENT);
  });
});

describe('null backend with readSize', () => {
  test('every regular file has that size and reads as zeros up to it', () => {
    const fs = createNullFs({ readSize: 10_000 });
    const { fh, attr } = fs.create(ctx, '/f', RW, 0o644);
    assert.equal(attr.size, 10_000);
    assert.equal(fs.mknod(ctx, '/g', S_IFREG | 0o644, 0).size, 10_000);
    const into = Buffer.alloc(8192, 0xff);
    assert.equal(fs.read(ctx, '/f', fh, into, 0), 8192);
    assert.deepEqual(into, Buffer.alloc(8192));
    into.fill(0xff);
    assert.equal(fs.read(ctx, '/f', fh, into, 8192), 10_000 - 8192);
    assert.deepEqual(into.subarray(0, 10_000 - 8192), Buffer.alloc(10_000 - 8192));
    assert.equal(into[10_000 - 8192], 0xff, 'nothing past the count is touched');
    assert.equal(fs.read(ctx, '/f', fh, into, 10_000), 0);
    fs.write(ctx, '/f', fh, Buffer.alloc(100), 20_000);
    fs.setattr(ctx, '/f', { size: 5 });
    assert.equal(sync(fs.getattr(ctx, '/f')).size, 10_000);
    assert.equal(sync(fs.getattr(ctx, '/f')).blocks, 0);
  });

  test('lseek sees one data extent; copyFileRange reports what a read would give', () => {
    const fs = createNullFs({ readSize: 1000 });
    const a = fs.create(ctx, '/a', RW, 0o644).fh;
    const b = fs.create(ctx, '/b', RW, 0o644).fh;
    assert.equal(fs.lseek!(ctx, '/a', a, 10, 3), 10);
    assert.equal(fs.lseek!(ctx, '/a', a, 10, 4), 1000);
    fails(() => fs.lseek!(ctx, '/a', a, 1000, 3), E.ENXIO);
    const copy = (offset: number, length: number): number =>
      fs.copyFileRange!(ctx, { path: '/a', fh: a, offset }, { path: '/b', fh: b, offset: 0 }, length, 0);
    assert.equal(copy(0, 400), 400);
    assert.equal(copy(900, 400), 100);
    assert.equal(copy(1000, 400), 0);
  });

  test('directories and symlinks keep their own sizes', () => {
    const fs = createNullFs({ readSize: 1 << 20 });
    fs.mkdir(ctx, '/d', 0o755);
    assert.notEqual(sync(fs.getattr(ctx, '/d')).size, 1 << 20);
    assert.equal(fs.symlink(ctx, 'abc', '/l').size, 3);
  });

  test('rejects a bad readSize', () => {
    assert.throws(() => createNullFs({ readSize: -1 }), RangeError);
    assert.throws(() => createNullFs({ readSize: 1.5 }), RangeError);
  });
});
