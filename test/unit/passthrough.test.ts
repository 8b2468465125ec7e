// The passthrough backend called directly, without a mount: POSIX behaviour
// on a temp dir. Confinement has its own file (passthrough-confinement).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPassthrough } from '../../src/backends/passthrough.ts';
import * as at from '../../src/sys/at.ts';
import { ENODATA, ENOENT, ENOSYS, FsError } from '../../src/vfs/errors.ts';
import { RENAME_EXCHANGE, RENAME_NOREPLACE, type OpContext, type Vfs } from '../../src/vfs/types.ts';
import { orThrow } from '../../src/vfs/answer.ts';
import { code, returnsFailure, sync } from '../helpers/vfs.ts';
import { S_IFMT, S_IFREG, S_IFDIR, S_IFLNK, S_IFIFO, S_IFCHR } from '../../src/vfs/mode.ts';

const { O_RDONLY, O_RDWR, O_WRONLY, O_EXCL, O_APPEND, O_TRUNC } = fs.constants;
const GiB = 1024 ** 3;

const canTellUnsynced = at.unsyncedPages(0) !== -ENOSYS; // no cachestat before Linux 6.5

const rootCtx: OpContext = { uid: 0, gid: 0, pid: process.pid, unique: 1 };
const nobody: OpContext = { uid: 65534, gid: 65534, pid: process.pid, unique: 2 };

let tmp: string;
let root: string;
let vfs: Vfs;

before(() => {
  tmp = fs.mkdtempSync(join(tmpdir(), 'interposer-passthrough-'));
  root = join(tmp, 'root');
  fs.mkdirSync(root);
  vfs = createPassthrough(root);
});

after(() => {
  vfs?.destroy?.();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('passthrough: files', () => {
  it('creates, writes, reads and stats', () => {
    const { fh, attr, backingFd } = sync(vfs.create(rootCtx, '/hello', O_RDWR | O_EXCL, 0o640));
    assert.equal(backingFd, fh);
    assert.equal(attr.mode, S_IFREG | 0o640);
    assert.equal(attr.size, 0);
    assert.equal(sync(vfs.write(rootCtx, '/hello', fh, Buffer.from('hello, world'), 0)), 12);
    const buf = Buffer.alloc(64);
    assert.equal(sync(vfs.read(rootCtx, '/hello', fh, buf, 7)), 5);
    assert.equal(buf.toString('utf8', 0, 5), 'world');
    assert.equal(sync(vfs.read(rootCtx, '/hello', fh, buf, 100)), 0);
    sync(vfs.flush(rootCtx, '/hello', fh));
    sync(vfs.release(rootCtx, '/hello', fh));

    const st = fs.statSync(join(root, 'hello'));
    const a = sync(vfs.getattr(rootCtx, '/hello'));
    assert.equal(a.ino, st.ino);
    assert.equal(a.size, 12);
    assert.equal(a.nlink, 1);
    assert.equal(a.mode, st.mode);
    assert.equal(a.blocks, st.blocks);
    assert.equal(a.blksize, st.blksize);
    assert.equal(a.mtimeMs, st.mtimeMs);
    assert.equal(fs.readFileSync(join(root, 'hello'), 'utf8'), 'hello, world');

    assert.equal(
      code(() => vfs.create(rootCtx, '/hello', O_RDWR | O_EXCL, 0o644)),
      'EEXIST',
    );
    assert.equal(
      code(() => vfs.getattr(rootCtx, '/missing')),
      'ENOENT',
    );
    assert.equal(
      code(() => vfs.open(rootCtx, '/missing', O_RDONLY)),
      'ENOENT',
    );
    assert.equal(sync(vfs.getattr(rootCtx, '/')).mode & S_IFMT, S_IFDIR);
  });

  it('reads cached bytes into any view of a buffer, and only into that view', () => {
    const data = Buffer.from(Array.from({ length: 3 * 4096 }, (_, i) => (i * 7 + 3) & 0xff));
    const path = join(root, 'cached');
    fs.writeFileSync(path, data); // just written: in the page cache
    const fd = fs.openSync(path, 'r');
    try {
      // Views of one ArrayBuffer at several offsets, each read more than once: a reply is a view past
      // its header, and the same pooled buffers come back request after request.
      const backing = Buffer.alloc(5 * 4096, 0xee);
      for (const [start, offset, n] of [
        [16, 0, 4096],
        [16, 4096, 4096],
        [4096 + 16, 100, 5000],
        [16, 2 * 4096, 4096],
        [3 * 4096 + 5, 1, 4095],
      ]) {
        backing.fill(0xee);
        const into = backing.subarray(start, start + n);
        const got = at.preadCached(fd, into, offset);
        assert.equal(got, Math.min(n, data.length - offset));
        assert.ok(into.subarray(0, got).equals(data.subarray(offset, offset + got)), `bytes at ${offset} into the view at ${start}`);
        assert.ok(
          backing.subarray(0, start).every((b) => b === 0xee),
          `nothing before the view at ${start}`,
        );
        assert.ok(
          backing.subarray(start + got).every((b) => b === 0xee),
          `nothing after the view at ${start}`,
        );
      }
    } finally {
      fs.closeSync(fd);
    }
  });

  it('reads with a plain pread where the page cache cannot be asked, and writes and refusals as errnos', () => {
    // tmpfs refuses RWF_NOWAIT, so every read after the first takes the plain read, as a cold read on disk does.
    const shm = fs.mkdtempSync('/dev/shm/interposer-passthrough-');
    const mem = createPassthrough(shm);
    try {
      const { fh } = sync(mem.create(rootCtx, '/f', O_RDWR | O_EXCL, 0o644));
      const data = Buffer.from(Array.from({ length: 10_000 }, (_, i) => (i * 13 + 1) & 0xff));
      assert.equal(sync(mem.write(rootCtx, '/f', fh, data, 0)), data.length);
      for (const [offset, n] of [
        [0, 4096],
        [4096, 4096],
        [9_000, 4096],
        [20_000, 4096],
      ]) {
        const backing = Buffer.alloc(n + 32, 0xee);
        const into = backing.subarray(16, 16 + n);
        const got = sync(mem.read(rootCtx, '/f', fh, into, offset));
        assert.equal(got, Math.max(0, Math.min(n, data.length - offset)), `bytes read at ${offset}`);
        assert.ok(into.subarray(0, got).equals(data.subarray(offset, offset + got)), `the bytes at ${offset}`);
        assert.ok(
          backing.subarray(0, 16).every((b) => b === 0xee) && backing.subarray(16 + got).every((b) => b === 0xee),
          'only the view written',
        );
      }
      mem.release(rootCtx, '/f', fh);
      const ro = sync(mem.open(rootCtx, '/f', O_RDONLY));
      assert.equal(
        code(() => mem.write(rootCtx, '/f', ro.fh, Buffer.from('x'), 0)),
        'EBADF',
      );
      mem.release(rootCtx, '/f', ro.fh);
      const wo = sync(mem.open(rootCtx, '/f', O_WRONLY));
      assert.equal(
        code(() => mem.read(rootCtx, '/f', wo.fh, Buffer.alloc(10), 0)),
        'EBADF',
      );
      mem.release(rootCtx, '/f', wo.fh);
      assert.ok(fs.readFileSync(join(shm, 'f')).equals(data), 'the file as written');
    } finally {
      mem.destroy?.();
      fs.rmSync(shm, { recursive: true, force: true });
    }
  });

  it('honours O_APPEND and O_TRUNC', () => {
    fs.writeFileSync(join(root, 'log'), 'abc');
    const { fh } = sync(vfs.open(rootCtx, '/log', O_WRONLY | O_APPEND));
    // pwrite on an O_APPEND fd appends whatever the offset says.
    sync(vfs.write(rootCtx, '/log', fh, Buffer.from('def'), 0));
    vfs.release(rootCtx, '/log', fh);
    assert.equal(fs.readFileSync(join(root, 'log'), 'utf8'), 'abcdef');
    const t = sync(vfs.open(rootCtx, '/log', O_RDWR | O_TRUNC));
    assert.equal(sync(vfs.getattr(rootCtx, '/log', t.fh)).size, 0);
    vfs.release(rootCtx, '/log', t.fh);
  });

  it('opens an existing file on create without O_EXCL, leaving its owner alone', () => {
    fs.writeFileSync(join(root, 'existing'), 'keep');
    const { fh, attr } = sync(vfs.create(nobody, '/existing', O_RDWR, 0o644));
    assert.equal(attr.uid, 0);
    assert.equal(attr.size, 4);
    vfs.release(nobody, '/existing', fh);
  });

  it('keeps reading an unlinked file through its handle', () => {
    const { fh } = sync(vfs.create(rootCtx, '/doomed', O_RDWR | O_EXCL, 0o600));
    vfs.write(rootCtx, '/doomed', fh, Buffer.from('still here'), 0);
    vfs.unlink(rootCtx, '/doomed');
    assert.equal(
      code(() => vfs.getattr(rootCtx, '/doomed')),
      'ENOENT',
    );
    const buf = Buffer.alloc(32);
    assert.equal(sync(vfs.read(rootCtx, '/doomed', fh, buf, 0)), 10);
    assert.equal(buf.toString('utf8', 0, 10), 'still here');
    const a = sync(vfs.getattr(rootCtx, '/doomed', fh));
    assert.equal(a.nlink, 0);
    assert.equal(a.size, 10);
    assert.equal(sync(vfs.setattr(rootCtx, '/doomed', { size: 5, mode: 0o644 }, fh)).size, 5);
    assert.equal(sync(vfs.getattr(rootCtx, '/doomed', fh)).mode, S_IFREG | 0o644);
    vfs.release(rootCtx, '/doomed', fh);
  });

  it('writes sparsely beyond 4 GiB and finds data and holes', () => {
    const { fh } = sync(vfs.create(rootCtx, '/sparse', O_RDWR | O_EXCL, 0o644));
    const at = 5 * GiB;
    assert.equal(sync(vfs.write(rootCtx, '/sparse', fh, Buffer.from('tail'), at)), 4);
    const a = sync(vfs.getattr(rootCtx, '/sparse', fh));
    assert.equal(a.size, at + 4);
    assert.ok(a.blocks < 1024, `a sparse file should allocate little, got ${a.blocks} blocks`);
    const buf = Buffer.alloc(4);
    assert.equal(sync(vfs.read(rootCtx, '/sparse', fh, buf, at)), 4);
    assert.equal(buf.toString(), 'tail');
    assert.equal(sync(vfs.lseek!(rootCtx, '/sparse', fh, 0, 4 /* SEEK_HOLE */)), 0);
    const data = sync(vfs.lseek!(rootCtx, '/sparse', fh, 0, 3 /* SEEK_DATA */));
    assert.ok(data <= at && data > 4 * GiB, `SEEK_DATA landed at ${data}`);
    assert.equal(
      code(() => vfs.lseek!(rootCtx, '/sparse', fh, at + 4, 3)),
      'ENXIO',
    );
    vfs.release(rootCtx, '/sparse', fh);
  });

  it('copies ranges and preallocates', () => {
    const src = sync(vfs.create(rootCtx, '/copy-src', O_RDWR | O_EXCL, 0o644));
    const dst = sync(vfs.create(rootCtx, '/copy-dst', O_RDWR | O_EXCL, 0o644));
    const payload = Buffer.alloc(1 << 20);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
    vfs.write(rootCtx, '/copy-src', src.fh, payload, 0);
    let copied = 0;
    while (copied < payload.length) {
      const n = sync(
        vfs.copyFileRange!(
          rootCtx,
          { path: '/copy-src', fh: src.fh, offset: copied },
          { path: '/copy-dst', fh: dst.fh, offset: 4096 + copied },
          payload.length - copied,
          0,
        ),
      );
      assert.ok(n > 0);
      copied += n;
    }
    const out = fs.readFileSync(join(root, 'copy-dst'));
    assert.equal(out.length, 4096 + payload.length);
    assert.ok(out.subarray(4096).equals(payload));

    const f = sync(vfs.create(rootCtx, '/prealloc', O_RDWR | O_EXCL, 0o644));
    sync(vfs.fallocate!(rootCtx, '/prealloc', f.fh, 0, 0, 1 << 20));
    let a = sync(vfs.getattr(rootCtx, '/prealloc', f.fh));
    assert.equal(a.size, 1 << 20);
    assert.ok(a.blocks >= 2048);
    sync(vfs.fallocate!(rootCtx, '/prealloc', f.fh, 1 /* KEEP_SIZE */, 1 << 20, 1 << 20));
    a = sync(vfs.getattr(rootCtx, '/prealloc', f.fh));
    assert.equal(a.size, 1 << 20);
    assert.ok(a.blocks >= 4096);
    for (const h of [src.fh, dst.fh, f.fh]) vfs.release(rootCtx, '', h);
  });

  it('syncs on the request thread when nobody waits and little is unwritten, else on the pool', async () => {
    const waiting: OpContext = { ...rootCtx, othersWaiting: true };
    // Before Linux 6.5 (no cachestat) the backend cannot tell how much is unwritten: always the pool.
    const here = (r: unknown): boolean => (canTellUnsynced ? r === undefined : r instanceof Promise);
    const { fh } = sync(vfs.create(rootCtx, '/synced', O_RDWR | O_EXCL, 0o644));
    vfs.write(rootCtx, '/synced', fh, Buffer.from('x'), 0);
    assert.ok(here(vfs.fsync(rootCtx, '/synced', fh, false)));
    vfs.write(rootCtx, '/synced', fh, Buffer.from('y'), 1);
    const behindOthers = vfs.fsync(waiting, '/synced', fh, true);
    assert.ok(behindOthers instanceof Promise);
    await behindOthers;
    vfs.write(rootCtx, '/synced', fh, Buffer.alloc(2 << 20, 1), 0);
    const large = vfs.fsync(rootCtx, '/synced', fh, true);
    assert.ok(large instanceof Promise, '2 MiB unwritten goes to the pool');
    await large;
    assert.ok(here(vfs.fsync(rootCtx, '/synced', fh, false)), 'nothing left after the sync');
    vfs.release(rootCtx, '/synced', fh);
    assert.equal(fs.readFileSync(join(root, 'synced')).length, 2 << 20);
    const d = sync(vfs.opendir(rootCtx, '/'));
    assert.ok(here(vfs.fsyncdir(rootCtx, '/', d.fh, false)));
    const dirBehindOthers = vfs.fsyncdir(waiting, '/', d.fh, false);
    assert.ok(dirBehindOthers instanceof Promise);
    await dirBehindOthers;
    vfs.releasedir(rootCtx, '/', d.fh);
    await assert.rejects(vfs.fsync(rootCtx, '/synced', 1 << 20, false) as Promise<void>, (e) => e instanceof FsError);
  });

  it('reports statfs and access', () => {
    const s = sync(vfs.statfs(rootCtx, '/'));
    const host = fs.statfsSync(root);
    assert.equal(s.bsize, host.bsize);
    assert.equal(s.blocks, host.blocks);
    assert.ok(s.namelen >= 255);
    assert.ok(s.frsize > 0);
    assert.equal(sync(vfs.statfs(rootCtx, '/hello')).blocks, host.blocks);
    assert.equal(
      code(() => vfs.access(rootCtx, '/hello', 4)),
      'OK',
    );
    assert.equal(
      code(() => vfs.access(rootCtx, '/', 1)),
      'OK',
    );
    assert.equal(
      code(() => vfs.access(rootCtx, '/nope', 0)),
      'ENOENT',
    );
  });
});

describe('passthrough: directories and names', () => {
  it('makes directories and lists 10,000 entries', async () => {
    const a = sync(vfs.mkdir(rootCtx, '/big', 0o755));
    assert.equal(a.mode, S_IFDIR | 0o755);
    const dir = join(root, 'big');
    for (let i = 0; i < 10_000; i++) fs.closeSync(fs.openSync(join(dir, `file-${i}`), 'w'));
    vfs.mkdir(rootCtx, '/big/sub', 0o700);
    fs.symlinkSync('file-1', join(dir, 'link'));
    const d = sync(vfs.opendir(rootCtx, '/big'));
    // Read on the pool, in ranges, where a read waited for the disk (backends/backing-listing.ts).
    const listing = orThrow(await vfs.readdir(rootCtx, '/big', d.fh, 0n));
    const entries = listing.toArray();
    assert.equal(entries.length, 10_004);
    const byName = new Map(entries.map((e) => [e.name, e]));
    assert.equal(byName.get('.')?.ino, fs.statSync(dir).ino, "the backing directory's own '.' and '..'");
    assert.equal(byName.get('..')?.type, S_IFDIR);
    for (let i = 0; i < 10_000; i++) assert.equal(byName.get(`file-${i}`)?.type, S_IFREG);
    assert.equal(byName.get('sub')?.type, S_IFDIR);
    assert.equal(byName.get('link')?.type, S_IFLNK);
    assert.equal(byName.get('file-42')?.ino, fs.statSync(join(dir, 'file-42')).ino);
    // From 0: every call lists from the start; from a cookie: what comes after it, even once that entry is gone.
    assert.equal(orThrow(await vfs.readdir(rootCtx, '/big', d.fh, 0n)).length, 10_004);
    const k = entries.findIndex((e) => e.name === 'file-5000');
    const after = entries.slice(k + 1).map((e) => e.name);
    fs.unlinkSync(join(dir, 'file-5000'));
    const rest = sync(vfs.readdir(rootCtx, '/big', d.fh, listing.cookie(k)));
    assert.deepEqual(
      rest.toArray().map((e) => e.name),
      after,
    );
    fs.closeSync(fs.openSync(join(dir, 'file-5000'), 'w'));
    vfs.releasedir(rootCtx, '/big', d.fh);
    assert.equal(
      code(() => vfs.rmdir(rootCtx, '/big')),
      'ENOTEMPTY',
    );
    vfs.rmdir(rootCtx, '/big/sub');
    assert.equal(
      code(() => vfs.getattr(rootCtx, '/big/sub')),
      'ENOENT',
    );
    assert.equal(
      code(() => vfs.mkdir(rootCtx, '/big', 0o755)),
      'EEXIST',
    );
    assert.equal(
      code(() => vfs.opendir(rootCtx, '/hello')),
      'ENOTDIR',
    );
  });

  it('makes and reads symlinks without following them', () => {
    const a = sync(vfs.symlink(rootCtx, 'hello', '/sym'));
    assert.equal(a.mode & S_IFMT, S_IFLNK);
    assert.equal(a.size, 5);
    assert.equal(sync(vfs.readlink(rootCtx, '/sym')), 'hello');
    assert.equal(sync(vfs.getattr(rootCtx, '/sym')).mode & S_IFMT, S_IFLNK);
    assert.equal(
      code(() => vfs.readlink(rootCtx, '/hello')),
      'EINVAL',
    );
    assert.equal(
      code(() => vfs.open(rootCtx, '/sym', O_RDONLY)),
      'ELOOP',
    );
    assert.equal(
      code(() => vfs.setattr(rootCtx, '/sym', { mode: 0o600 })),
      'EOPNOTSUPP',
    );
  });

  it('hard-links', () => {
    fs.writeFileSync(join(root, 'orig'), 'same');
    const a = sync(vfs.link(rootCtx, '/orig', '/alias'));
    assert.equal(a.nlink, 2);
    assert.equal(a.ino, sync(vfs.getattr(rootCtx, '/orig')).ino);
    assert.equal(
      code(() => vfs.link(rootCtx, '/orig', '/alias')),
      'EEXIST',
    );
  });

  it('reaches files whose path is longer than PATH_MAX, as a program walking down to them does', () => {
    // 40 levels of 200-byte names: 8,000 bytes of path, twice what openat2 takes in one call.
    let path = '';
    for (let depth = 0; depth < 40; depth++) {
      path += `/${String(depth % 10).repeat(200)}`;
      sync(vfs.mkdir(rootCtx, path, 0o755));
    }
    const { fh } = sync(vfs.create(rootCtx, `${path}/leaf`, O_RDWR | O_EXCL, 0o644));
    assert.equal(sync(vfs.write(rootCtx, `${path}/leaf`, fh, Buffer.from('deep'), 0)), 4);
    sync(vfs.release(rootCtx, `${path}/leaf`, fh));
    assert.equal(sync(vfs.getattr(rootCtx, `${path}/leaf`)).size, 4);
    sync(vfs.rename(rootCtx, `${path}/leaf`, `${path}/moved`, 0));
    assert.equal(
      code(() => vfs.getattr(rootCtx, `${path}/leaf`)),
      'ENOENT',
    );
    sync(vfs.unlink(rootCtx, `${path}/moved`));
    const dir = sync(vfs.opendir(rootCtx, path)).fh;
    const names = sync(vfs.readdir(rootCtx, path, dir, 0n))
      .toArray()
      .map((e) => e.name);
    sync(vfs.releasedir(rootCtx, path, dir));
    assert.deepEqual(
      names.filter((n) => n !== '.' && n !== '..'),
      [],
    );
  });

  it('renames with NOREPLACE and EXCHANGE', () => {
    fs.mkdirSync(join(root, 'r'));
    fs.writeFileSync(join(root, 'r', 'a'), 'A');
    fs.writeFileSync(join(root, 'r', 'b'), 'B');
    assert.equal(
      code(() => vfs.rename(rootCtx, '/r/a', '/r/b', RENAME_NOREPLACE)),
      'EEXIST',
    );
    vfs.rename(rootCtx, '/r/a', '/r/b', RENAME_EXCHANGE);
    assert.equal(fs.readFileSync(join(root, 'r', 'a'), 'utf8'), 'B');
    assert.equal(fs.readFileSync(join(root, 'r', 'b'), 'utf8'), 'A');
    vfs.rename(rootCtx, '/r/a', '/r-moved', RENAME_NOREPLACE);
    assert.equal(fs.readFileSync(join(root, 'r-moved'), 'utf8'), 'B');
    vfs.rename(rootCtx, '/r-moved', '/r/b', 0);
    assert.equal(fs.readFileSync(join(root, 'r', 'b'), 'utf8'), 'B');
    assert.equal(
      code(() => vfs.rename(rootCtx, '/r/nothing', '/r/c', 0)),
      'ENOENT',
    );
    assert.equal(
      code(() => vfs.rename(rootCtx, '/r/b', '/r/..', 0)),
      'EINVAL',
    );
  });
});

describe('passthrough: attributes', () => {
  it('gets xattr values of every size up to the 64 KiB limit', () => {
    // ext4 keeps at most a block of values per file; tmpfs (Linux 6.6+) takes user.* up to the limit.
    const shm = fs.mkdtempSync('/dev/shm/interposer-xattr-');
    const big = createPassthrough(shm);
    try {
      fs.writeFileSync(join(shm, 'f'), '');
      for (const size of [4095, 4096, 4097, 20000, 65536]) {
        const value = Buffer.alloc(size, size % 251);
        big.setxattr(rootCtx, '/f', `user.s${size}`, value, 0);
        assert.deepEqual(sync(big.getxattr(rootCtx, '/f', `user.s${size}`)), value, `${size} bytes`);
      }
      assert.equal(
        code(() => big.getxattr(rootCtx, '/f', 'user.none')),
        'ENODATA',
      );
    } finally {
      big.destroy?.();
      fs.rmSync(shm, { recursive: true, force: true });
    }
  });

  it('returns, rather than throws, the failures the kernel meets most: a missing name, an absent xattr', () => {
    fs.writeFileSync(join(root, 'plain'), '');
    returnsFailure(() => vfs.getattr(rootCtx, '/no-such-name'), ENOENT);
    returnsFailure(() => vfs.getxattr(rootCtx, '/plain', 'security.capability'), ENODATA);
  });

  it('sets, gets, lists and removes xattrs', () => {
    const value = Buffer.from([0, 1, 2, 255]);
    vfs.setxattr(rootCtx, '/hello', 'user.test', value, 0);
    assert.deepEqual(sync(vfs.getxattr(rootCtx, '/hello', 'user.test')), value);
    assert.ok(sync(vfs.listxattr(rootCtx, '/hello')).includes('user.test'));
    assert.equal(
      code(() => vfs.setxattr(rootCtx, '/hello', 'user.test', value, 1 /* CREATE */)),
      'EEXIST',
    );
    assert.equal(
      code(() => vfs.setxattr(rootCtx, '/hello', 'user.other', value, 2 /* REPLACE */)),
      'ENODATA',
    );
    vfs.setxattr(rootCtx, '/hello', 'user.empty', Buffer.alloc(0), 0);
    assert.equal(sync(vfs.getxattr(rootCtx, '/hello', 'user.empty')).length, 0);
    vfs.removexattr(rootCtx, '/hello', 'user.test');
    assert.equal(
      code(() => vfs.getxattr(rootCtx, '/hello', 'user.test')),
      'ENODATA',
    );
    assert.deepEqual(sync(vfs.listxattr(rootCtx, '/hello')), ['user.empty']);
    // The root itself, and a symlink (user.* is not allowed on symlinks).
    vfs.setxattr(rootCtx, '/', 'user.rootattr', Buffer.from('r'), 0);
    assert.equal(sync(vfs.getxattr(rootCtx, '/', 'user.rootattr')).toString(), 'r');
    vfs.removexattr(rootCtx, '/', 'user.rootattr');
    assert.equal(
      code(() => vfs.setxattr(rootCtx, '/sym', 'user.x', value, 0)),
      'EPERM',
    );
    assert.ok(Array.isArray(sync(vfs.listxattr(rootCtx, '/sym'))));
  });

  it('chmods, chowns, truncates and sets times', () => {
    fs.writeFileSync(join(root, 'attrs'), '0123456789');
    let a = sync(vfs.setattr(rootCtx, '/attrs', { mode: 0o4711 }));
    assert.equal(a.mode, S_IFREG | 0o4711);
    a = sync(vfs.setattr(rootCtx, '/attrs', { uid: 1234 }));
    assert.equal(a.uid, 1234);
    assert.equal(a.gid, 0);
    a = sync(vfs.setattr(rootCtx, '/attrs', { gid: 4321 }));
    assert.deepEqual([a.uid, a.gid], [1234, 4321]);
    a = sync(vfs.setattr(rootCtx, '/attrs', { size: 3 }));
    assert.equal(a.size, 3);
    a = sync(vfs.setattr(rootCtx, '/attrs', { size: 3 * GiB }));
    assert.equal(a.size, 3 * GiB);
    a = sync(vfs.setattr(rootCtx, '/attrs', { size: 4 }));
    assert.equal(fs.readFileSync(join(root, 'attrs'), 'utf8'), '012\0');

    const atime = 1_000_000_123.456;
    const mtime = 1_700_000_000_000.25;
    a = sync(vfs.setattr(rootCtx, '/attrs', { atime, mtime }));
    assert.ok(Math.abs(a.atimeMs - atime) < 1e-3);
    assert.ok(Math.abs(a.mtimeMs - mtime) < 1e-3);
    const ns = fs.statSync(join(root, 'attrs'), { bigint: true });
    assert.equal(ns.atimeNs, 1_000_000_123_456_000n);
    assert.equal(ns.mtimeNs, 1_700_000_000_000_250_000n);
    // 'now' for mtime only; atime stays as it was.
    a = sync(vfs.setattr(rootCtx, '/attrs', { mtime: 'now' }));
    assert.ok(Math.abs(a.mtimeMs - Date.now()) < 5000);
    assert.ok(Math.abs(a.atimeMs - atime) < 1e-3);
    a = sync(vfs.setattr(rootCtx, '/attrs', { atime: 'now', mtime: 'now' }));
    assert.ok(Math.abs(a.atimeMs - Date.now()) < 5000);

    assert.equal(
      code(() => vfs.setattr(rootCtx, '/big', { size: 0 })),
      'EISDIR',
    );
    assert.equal(
      code(() => vfs.setattr(rootCtx, '/missing', { mode: 0o600 })),
      'ENOENT',
    );
    // Symlinks are chowned and timed themselves, not their targets.
    const before = fs.statSync(join(root, 'hello'));
    a = sync(vfs.setattr(rootCtx, '/sym', { uid: 777, gid: 778, mtime: 1e12 }));
    assert.deepEqual([a.mode & S_IFMT, a.uid, a.gid, a.mtimeMs], [S_IFLNK, 777, 778, 1e12]);
    const afterHello = fs.statSync(join(root, 'hello'));
    assert.deepEqual([afterHello.uid, afterHello.mtimeMs], [before.uid, before.mtimeMs]);
  });

  it('gives created nodes to the caller', () => {
    const c = sync(vfs.create(nobody, '/owned-file', O_RDWR | O_EXCL, 0o644));
    assert.deepEqual([c.attr.uid, c.attr.gid, c.attr.mode], [65534, 65534, S_IFREG | 0o644]);
    vfs.release(nobody, '/owned-file', c.fh);
    const d = sync(vfs.mkdir(nobody, '/owned-dir', 0o750));
    assert.deepEqual([d.uid, d.gid, d.mode], [65534, 65534, S_IFDIR | 0o750]);
    const s = sync(vfs.symlink(nobody, '/etc/passwd', '/owned-dir/link'));
    assert.deepEqual([s.uid, s.gid], [65534, 65534]);
    const p = sync(vfs.mknod(nobody, '/owned-dir/fifo', S_IFIFO | 0o600, 0));
    assert.deepEqual([p.uid, p.gid, p.mode], [65534, 65534, S_IFIFO | 0o600]);
    const r = sync(vfs.mknod(nobody, '/owned-dir/plain', S_IFREG | 0o640, 0));
    assert.deepEqual([r.uid, r.gid, r.mode], [65534, 65534, S_IFREG | 0o640]);
    for (const name of ['owned-file', 'owned-dir', 'owned-dir/link', 'owned-dir/fifo', 'owned-dir/plain']) {
      const st = fs.lstatSync(join(root, name));
      assert.deepEqual([st.uid, st.gid], [65534, 65534], name);
    }
    // Set-id bits survive the chown that hands the file over.
    const suid = sync(vfs.create(nobody, '/owned-suid', O_RDWR | O_EXCL, 0o6755));
    assert.equal(suid.attr.mode, S_IFREG | 0o6755);
    vfs.release(nobody, '/owned-suid', suid.fh);
    // Root's files stay root's.
    const mine = sync(vfs.mkdir(rootCtx, '/root-dir', 0o755));
    assert.deepEqual([mine.uid, mine.gid], [0, 0]);
  });

  it('lets a setgid directory choose the group', () => {
    fs.mkdirSync(join(root, 'shared'));
    fs.chownSync(join(root, 'shared'), 0, 4242);
    fs.chmodSync(join(root, 'shared'), 0o2777);
    const f = sync(vfs.create(nobody, '/shared/f', O_RDWR | O_EXCL, 0o644));
    assert.deepEqual([f.attr.uid, f.attr.gid], [65534, 4242]);
    vfs.release(nobody, '/shared/f', f.fh);
    const d = sync(vfs.mkdir(nobody, '/shared/d', 0o755));
    assert.deepEqual([d.uid, d.gid, d.mode], [65534, 4242, S_IFDIR | 0o2755]);
    const l = sync(vfs.symlink(nobody, 'f', '/shared/l'));
    assert.deepEqual([l.uid, l.gid], [65534, 4242]);
  });

  it('refuses to open anything but a regular file', () => {
    vfs.mknod(rootCtx, '/fifo', S_IFIFO | 0o666, 0);
    // A FIFO would block the event loop forever; a device must not become a backing file.
    assert.equal(
      code(() => vfs.open(rootCtx, '/fifo', O_RDONLY)),
      'ENXIO',
    );
    const dev = sync(vfs.mknod(rootCtx, '/null', S_IFCHR | 0o666, (1 << 8) | 3));
    assert.equal(dev.rdev, (1 << 8) | 3);
    assert.equal(dev.rdev, fs.statSync(join(root, 'null')).rdev);
    assert.equal(
      code(() => vfs.open(rootCtx, '/null', O_RDWR)),
      'ENXIO',
    );
    assert.equal(
      code(() => vfs.open(rootCtx, '/big', O_RDONLY)),
      'EISDIR',
    );
    assert.equal(
      code(() => vfs.create(rootCtx, '/fifo', O_RDWR, 0o644)),
      'ENXIO',
    );
  });
});
