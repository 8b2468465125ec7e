// Mirrors a host directory. The daemon runs as root and whoever writes into
// the tree controls its symlinks, so nothing here ever resolves a path from
// the host's root: every path is walked beneath one O_PATH fd with openat2
// (RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), and the final component is acted
// on through its parent's fd with the *at call's no-follow flag. A directory
// swapped for a symlink to / mid-operation then yields an error, never a file
// outside the root.
import { fdatasync, fsync, readSync, writeSync } from 'node:fs';
import * as at from '../sys/at.ts';
import { close, getegid, geteuid } from '../sys/libc.ts';
import { EAGAIN, EEXIST, EINVAL, EISDIR, ENOENT, ENXIO, FsError, toErrno } from '../vfs/errors.ts';
import type { Attr, AttrChanges, CreateResult, DirEntry, OpContext, OpenResult, StatFs, Vfs } from '../vfs/types.ts';

const RESOLVE = at.RESOLVE_BENEATH | at.RESOLVE_NO_MAGICLINKS;
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_ISUID = 0o4000;
const S_ISGID = 0o2000;
const STATX_TYPE = 1;

// Open flags a caller may hand through. openat2 rejects unknown bits with
// EINVAL where open(2) ignores them, and the kernel's f_flags carry internal
// ones (__FMODE_EXEC, FMODE_NONOTIFY) that must not reach it.
const CALLER_FLAGS =
  at.O_ACCMODE | at.O_APPEND | at.O_TRUNC | at.O_NONBLOCK | at.O_DSYNC | at.O_SYNC | at.O_DIRECT | at.O_NOATIME;
// O_NONBLOCK is added so a regular file swapped for a FIFO between the
// kernel's lookup and our open cannot block the event loop; Linux ignores it
// for regular-file I/O.
const OPEN_EXTRA = at.O_NOFOLLOW | at.O_CLOEXEC | at.O_NOCTTY | at.O_NONBLOCK;

function check(r: number): number {
  if (r < 0) throw new FsError(-r);
  return r;
}

const TWO32 = 4294967296;
function u64(b: Buffer, o: number): number {
  return b.readUInt32LE(o) + b.readUInt32LE(o + 4) * TWO32;
}
function timeMs(b: Buffer, o: number): number {
  return (b.readUInt32LE(o) + b.readInt32LE(o + 4) * TWO32) * 1000 + b.readUInt32LE(o + 8) / 1e6;
}

/** Decodes the shared statx buffer; call right after a successful statx. */
function statxAttr(): Attr {
  const b = at.statxBuf;
  const major = b.readUInt32LE(128);
  const minor = b.readUInt32LE(132);
  return {
    ino: u64(b, 32),
    size: u64(b, 40),
    blocks: u64(b, 48),
    atimeMs: timeMs(b, 64),
    mtimeMs: timeMs(b, 112),
    ctimeMs: timeMs(b, 96),
    mode: b.readUInt16LE(28),
    nlink: b.readUInt32LE(16),
    uid: b.readUInt32LE(20),
    gid: b.readUInt32LE(24),
    // The kernel's new_encode_dev, which is what FUSE carries.
    rdev: ((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12)) >>> 0,
    blksize: b.readUInt32LE(4),
  };
}

function statxType(): number {
  return at.statxBuf.readUInt16LE(28) & S_IFMT;
}

function isRoot(path: string): boolean {
  return path === '/' || path === '';
}

/** The path relative to the root fd, as openat2 wants it. */
function relative(path: string): string {
  let i = 0;
  while (path.charCodeAt(i) === 47 /* / */) i++;
  return i === path.length ? '.' : i === 0 ? path : path.slice(i);
}

/** The final component; '.' stands for the root itself. */
function leafOf(path: string): string {
  if (isRoot(path)) return '.';
  const name = path.slice(path.lastIndexOf('/') + 1);
  // Acting on '..' through the parent's fd would step out of the root.
  if (name === '' || name === '.' || name === '..') throw new FsError(EINVAL);
  return name;
}

const dents = Buffer.alloc(64 * 1024);

export class PassthroughFs implements Vfs {
  readonly root: string;
  private rootFd: number;
  private readonly ownerFixup: boolean;
  private readonly euid: number;
  private readonly egid: number;

  constructor(root: string) {
    this.root = root;
    // The configured root itself is trusted (the admin chose it), so it may be
    // reached through symlinks; nothing beneath it is.
    const fd = at.openat2(at.AT_FDCWD, root, at.O_PATH | at.O_DIRECTORY | at.O_CLOEXEC, 0, 0);
    if (fd < 0) throw new FsError(-fd, `cannot open passthrough root ${root}`);
    this.rootFd = fd;
    this.euid = geteuid();
    this.egid = getegid();
    // Only root can give files away; unprivileged daemons create as themselves.
    this.ownerFixup = this.euid === 0;
  }

  /** openat2 beneath `dirfd`. EAGAIN means a concurrent rename raced a '..' step: retry. */
  private resolve(dirfd: number, rel: string, flags: number, mode = 0): number {
    for (let tries = 0; ; tries++) {
      const fd = at.openat2(dirfd, rel, flags, mode, RESOLVE);
      if (fd >= 0) return fd;
      if (fd !== -EAGAIN || tries >= 16) throw new FsError(-fd);
    }
  }

  /** An fd for the directory holding `path`'s final component; release with done(). */
  private dirOf(path: string): number {
    const slash = path.lastIndexOf('/');
    if (isRoot(path) || slash <= 0) return this.rootFd;
    return this.resolve(this.rootFd, relative(path.slice(0, slash)), at.O_PATH | at.O_DIRECTORY | at.O_CLOEXEC);
  }

  private done(dirfd: number): void {
    if (dirfd !== this.rootFd) close(dirfd);
  }

  private needsOwner(ctx: OpContext): boolean {
    return this.ownerFixup && (ctx.uid !== this.euid || ctx.gid !== this.egid);
  }

  /**
   * Hands a node we just created to the caller. A setgid parent already gave
   * it the right group (and directories the setgid bit), as on a native
   * filesystem, so only the owner changes then. `fd` is pinned to the inode.
   */
  private giveAway(ctx: OpContext, dirfd: number, fd: number, mode: number): void {
    let gid = ctx.gid;
    check(at.statx(dirfd, '', at.AT_EMPTY_PATH, STATX_TYPE | 0x2 /* STATX_MODE */));
    if (at.statxBuf.readUInt16LE(28) & S_ISGID) gid = -1;
    check(at.fchownat(fd, '', ctx.uid, gid, at.AT_EMPTY_PATH));
    // chown clears set-id bits on non-directories; the caller asked for them.
    if (mode & (S_ISUID | S_ISGID) && (mode & S_IFMT) !== S_IFDIR) {
      at.fchmodat(fd, '', mode & 0o7777, at.AT_EMPTY_PATH);
    }
  }

  /**
   * Attributes of a node just created by name (mkdir, mknod, symlink), with
   * ownership fixed. The name is re-opened O_PATH and checked to still be a
   * daemon-owned node of the type we made, so a rename racing in between
   * cannot make us give away someone else's file.
   */
  private created(ctx: OpContext, dirfd: number, name: string, mode: number): Attr {
    if (!this.needsOwner(ctx)) {
      check(at.statx(dirfd, name, at.AT_SYMLINK_NOFOLLOW));
      return statxAttr();
    }
    const fd = this.resolve(dirfd, name, at.O_PATH | at.O_NOFOLLOW | at.O_CLOEXEC);
    try {
      check(at.statx(fd, '', at.AT_EMPTY_PATH));
      if (statxType() === (mode & S_IFMT) && at.statxBuf.readUInt32LE(20) === this.euid) {
        this.giveAway(ctx, dirfd, fd, mode);
        check(at.statx(fd, '', at.AT_EMPTY_PATH));
      }
      return statxAttr();
    } finally {
      close(fd);
    }
  }

  getattr(_ctx: OpContext, path: string, fh?: number): Attr {
    if (fh !== undefined) {
      check(at.statx(fh, '', at.AT_EMPTY_PATH));
      return statxAttr();
    }
    if (isRoot(path)) {
      check(at.statx(this.rootFd, '', at.AT_EMPTY_PATH));
      return statxAttr();
    }
    const name = leafOf(path);
    const d = this.dirOf(path);
    try {
      check(at.statx(d, name, at.AT_SYMLINK_NOFOLLOW));
      return statxAttr();
    } finally {
      this.done(d);
    }
  }

  setattr(_ctx: OpContext, path: string, changes: AttrChanges, fh?: number): Attr {
    if (fh !== undefined) return this.setattrFd(fh, changes);
    const name = leafOf(path);
    const d = this.dirOf(path);
    try {
      // Owner before mode: chown clears set-id bits the new mode may ask for.
      if (changes.uid !== undefined || changes.gid !== undefined) {
        check(at.fchownat(d, name, changes.uid ?? -1, changes.gid ?? -1, at.AT_SYMLINK_NOFOLLOW));
      }
      if (changes.mode !== undefined) check(at.fchmodat(d, name, changes.mode & 0o7777, at.AT_SYMLINK_NOFOLLOW));
      if (changes.size !== undefined) this.truncate(d, name, changes.size);
      if (changes.atime !== undefined || changes.mtime !== undefined) {
        check(at.utimensat(d, name, changes.atime, changes.mtime, at.AT_SYMLINK_NOFOLLOW));
      }
      check(at.statx(d, name, at.AT_SYMLINK_NOFOLLOW));
      return statxAttr();
    } finally {
      this.done(d);
    }
  }

  // Through the handle, so an unlinked-but-open file can still be changed.
  private setattrFd(fd: number, changes: AttrChanges): Attr {
    if (changes.uid !== undefined || changes.gid !== undefined) {
      check(at.fchownat(fd, '', changes.uid ?? -1, changes.gid ?? -1, at.AT_EMPTY_PATH));
    }
    if (changes.mode !== undefined) check(at.fchmod(fd, changes.mode & 0o7777));
    if (changes.size !== undefined) check(at.ftruncate(fd, changes.size));
    if (changes.atime !== undefined || changes.mtime !== undefined) {
      check(at.utimensat(fd, null, changes.atime, changes.mtime, 0));
    }
    check(at.statx(fd, '', at.AT_EMPTY_PATH));
    return statxAttr();
  }

  private truncate(dirfd: number, name: string, size: number): void {
    const fd = this.resolve(dirfd, name, at.O_WRONLY | OPEN_EXTRA);
    try {
      check(at.statx(fd, '', at.AT_EMPTY_PATH, STATX_TYPE));
      if (statxType() !== S_IFREG) throw new FsError(EINVAL);
      check(at.ftruncate(fd, size));
    } finally {
      close(fd);
    }
  }

  readlink(_ctx: OpContext, path: string): string {
    const name = leafOf(path);
    const d = this.dirOf(path);
    try {
      const target = at.readlinkat(d, name);
      if (typeof target === 'number') throw new FsError(-target);
      return target;
    } finally {
      this.done(d);
    }
  }

  mknod(ctx: OpContext, path: string, mode: number, rdev: number): Attr {
    const type = mode & S_IFMT;
    if (type === 0 || type === S_IFREG) {
      // A regular file is created through an fd, which pins it for the chown.
      const { fh, attr } = this.create(ctx, path, at.O_RDONLY | at.O_EXCL, S_IFREG | (mode & 0o7777));
      close(fh);
      return attr;
    }
    const name = leafOf(path);
    const d = this.dirOf(path);
    try {
      check(at.mknodat(d, name, mode, rdev));
      return this.created(ctx, d, name, mode);
    } finally {
      this.done(d);
    }
  }

  mkdir(ctx: OpContext, path: string, mode: number): Attr {
    const name = leafOf(path);
    const d = this.dirOf(path);
    try {
      check(at.mkdirat(d, name, mode & 0o7777));
      return this.created(ctx, d, name, S_IFDIR | (mode & 0o7777));
    } finally {
      this.done(d);
    }
  }

  symlink(ctx: OpContext, target: string, path: string): Attr {
    const name = leafOf(path);
    const d = this.dirOf(path);
    try {
      check(at.symlinkat(target, d, name));
      return this.created(ctx, d, name, S_IFLNK | 0o777);
    } finally {
      this.done(d);
    }
  }

  unlink(_ctx: OpContext, path: string): void {
    this.remove(path, 0);
  }

  rmdir(_ctx: OpContext, path: string): void {
    this.remove(path, at.AT_REMOVEDIR);
  }

  private remove(path: string, flags: number): void {
    const name = leafOf(path);
    const d = this.dirOf(path);
    try {
      check(at.unlinkat(d, name, flags));
    } finally {
      this.done(d);
    }
  }

  rename(_ctx: OpContext, from: string, to: string, flags: number): void {
    this.twoNames(from, to, flags, true);
  }

  link(_ctx: OpContext, existing: string, path: string): Attr {
    return this.twoNames(existing, path, 0, false)!;
  }

  // rename and link share the two-parent dance; link returns the new name's attributes.
  private twoNames(from: string, to: string, flags: number, rename: boolean): Attr | undefined {
    const fromName = leafOf(from);
    const toName = leafOf(to);
    const d1 = this.dirOf(from);
    let d2 = d1;
    try {
      if (from.lastIndexOf('/') !== to.lastIndexOf('/') || !to.startsWith(from.slice(0, from.lastIndexOf('/') + 1))) {
        d2 = this.dirOf(to);
      }
      if (rename) {
        check(at.renameat2(d1, fromName, d2, toName, flags));
        return undefined;
      }
      // No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink, as link(2) does on Linux.
      check(at.linkat(d1, fromName, d2, toName, 0));
      check(at.statx(d2, toName, at.AT_SYMLINK_NOFOLLOW));
      return statxAttr();
    } finally {
      if (d2 !== d1) this.done(d2);
      this.done(d1);
    }
  }

  open(_ctx: OpContext, path: string, flags: number): OpenResult {
    const fd = this.resolve(this.rootFd, relative(path), (flags & CALLER_FLAGS) | OPEN_EXTRA);
    this.requireRegular(fd);
    return { fh: fd, backingFd: fd };
  }

  // The kernel only sends OPEN for regular files. Anything else here was
  // swapped in after its lookup; a device node must not be handed to the
  // kernel as a passthrough backing file.
  private requireRegular(fd: number): void {
    const r = at.statx(fd, '', at.AT_EMPTY_PATH, STATX_TYPE);
    const type = statxType();
    if (r < 0 || type !== S_IFREG) {
      close(fd);
      throw new FsError(r < 0 ? -r : type === S_IFDIR ? EISDIR : ENXIO);
    }
  }

  create(ctx: OpContext, path: string, flags: number, mode: number): CreateResult {
    const name = leafOf(path);
    const d = this.dirOf(path);
    let fd = -1;
    try {
      const base = (flags & CALLER_FLAGS) | OPEN_EXTRA;
      let made = false;
      // O_EXCL first, so we know whether the file is ours to give away; a
      // caller without O_EXCL then gets the existing file, as open(2) would.
      for (let tries = 0; fd < 0; tries++) {
        fd = at.openat2(d, name, base | at.O_CREAT | at.O_EXCL, mode & 0o7777, RESOLVE);
        if (fd >= 0) {
          made = true;
          break;
        }
        if (fd !== -EEXIST || flags & at.O_EXCL || tries >= 16) throw new FsError(-fd);
        fd = at.openat2(d, name, base, 0, RESOLVE);
        if (fd < 0 && fd !== -ENOENT) throw new FsError(-fd);
      }
      if (!made) this.requireRegular(fd);
      else if (this.needsOwner(ctx)) this.giveAway(ctx, d, fd, S_IFREG | mode);
      check(at.statx(fd, '', at.AT_EMPTY_PATH));
      return { fh: fd, backingFd: fd, attr: statxAttr() };
    } catch (err) {
      if (fd >= 0) close(fd);
      throw err;
    } finally {
      this.done(d);
    }
  }

  read(_ctx: OpContext, _path: string, fh: number, into: Buffer, offset: number): number {
    try {
      return readSync(fh, into, 0, into.length, offset);
    } catch (err) {
      throw new FsError(toErrno(err));
    }
  }

  write(_ctx: OpContext, _path: string, fh: number, data: Buffer, offset: number): number {
    try {
      return writeSync(fh, data, 0, data.length, offset);
    } catch (err) {
      throw new FsError(toErrno(err));
    }
  }

  // close() of a duplicate reports deferred write errors (NFS and the like)
  // at the caller's close(2), as libfuse's passthrough does.
  flush(_ctx: OpContext, _path: string, fh: number): void {
    check(close(check(at.dup(fh))));
  }

  release(_ctx: OpContext, _path: string, fh: number): void {
    close(fh);
  }

  fsync(_ctx: OpContext, _path: string, fh: number, datasync: boolean): Promise<void> {
    return syncFd(fh, datasync);
  }

  statfs(_ctx: OpContext, path: string): StatFs {
    const fd = isRoot(path) ? this.rootFd : this.resolve(this.rootFd, relative(path), at.O_PATH | at.O_NOFOLLOW | at.O_CLOEXEC);
    try {
      check(at.fstatfs(fd));
    } finally {
      this.done(fd);
    }
    const b = at.statfsBuf;
    return {
      blocks: u64(b, at.STATFS_BLOCKS),
      bfree: u64(b, at.STATFS_BFREE),
      bavail: u64(b, at.STATFS_BAVAIL),
      files: u64(b, at.STATFS_FILES),
      ffree: u64(b, at.STATFS_FFREE),
      bsize: u64(b, at.STATFS_BSIZE),
      namelen: u64(b, at.STATFS_NAMELEN),
      frsize: u64(b, at.STATFS_FRSIZE),
    };
  }

  setxattr(_ctx: OpContext, path: string, name: string, value: Buffer, flags: number): void {
    const leaf = leafOf(path);
    const d = this.dirOf(path);
    try {
      check(at.setxattrat(d, leaf, at.AT_SYMLINK_NOFOLLOW, name, value, flags));
    } finally {
      this.done(d);
    }
  }

  getxattr(_ctx: OpContext, path: string, name: string): Buffer {
    const leaf = leafOf(path);
    const d = this.dirOf(path);
    try {
      const value = at.getxattrat(d, leaf, at.AT_SYMLINK_NOFOLLOW, name);
      if (typeof value === 'number') throw new FsError(-value);
      return value;
    } finally {
      this.done(d);
    }
  }

  listxattr(_ctx: OpContext, path: string): string[] {
    const leaf = leafOf(path);
    const d = this.dirOf(path);
    try {
      const names = at.listxattrat(d, leaf, at.AT_SYMLINK_NOFOLLOW);
      if (typeof names === 'number') throw new FsError(-names);
      return names;
    } finally {
      this.done(d);
    }
  }

  removexattr(_ctx: OpContext, path: string, name: string): void {
    const leaf = leafOf(path);
    const d = this.dirOf(path);
    try {
      check(at.removexattrat(d, leaf, at.AT_SYMLINK_NOFOLLOW, name));
    } finally {
      this.done(d);
    }
  }

  opendir(_ctx: OpContext, path: string): OpenResult {
    const fd = this.resolve(this.rootFd, relative(path), at.O_RDONLY | at.O_DIRECTORY | at.O_NOFOLLOW | at.O_CLOEXEC);
    return { fh: fd };
  }

  // Listed from the directory fd itself, so the listing is of the directory
  // opendir resolved, wherever names have moved since.
  readdir(_ctx: OpContext, _path: string, fh: number): DirEntry[] {
    check(at.lseek(fh, 0, at.SEEK_SET));
    const entries: DirEntry[] = [];
    for (;;) {
      const n = check(at.getdents64(fh, dents));
      if (n === 0) return entries;
      for (let off = 0; off < n; ) {
        const reclen = dents.readUInt16LE(off + 16);
        const nameStart = off + 19;
        let nameEnd = dents.indexOf(0, nameStart);
        if (nameEnd < 0 || nameEnd > off + reclen) nameEnd = off + reclen;
        const dot = nameEnd - nameStart;
        const skip =
          (dot === 1 && dents[nameStart] === 46) ||
          (dot === 2 && dents[nameStart] === 46 && dents[nameStart + 1] === 46);
        if (!skip) {
          entries.push({
            name: dents.toString('utf8', nameStart, nameEnd),
            ino: u64(dents, off),
            // DT_* values are the S_IF* type bits shifted down by 12.
            type: dents[off + 18] << 12,
          });
        }
        off += reclen;
      }
    }
  }

  releasedir(_ctx: OpContext, _path: string, fh: number): void {
    close(fh);
  }

  fsyncdir(_ctx: OpContext, _path: string, fh: number, datasync: boolean): Promise<void> {
    return syncFd(fh, datasync);
  }

  // With default_permissions the kernel checks the mode bits; what is left
  // is whether the node still exists.
  access(_ctx: OpContext, path: string, _mask: number): void {
    if (isRoot(path)) return;
    close(this.resolve(this.rootFd, relative(path), at.O_PATH | at.O_NOFOLLOW | at.O_CLOEXEC));
  }

  fallocate(_ctx: OpContext, _path: string, fh: number, mode: number, offset: number, length: number): void {
    check(at.fallocate(fh, mode, offset, length));
  }

  lseek(_ctx: OpContext, _path: string, fh: number, offset: number, whence: number): number {
    return check(at.lseek(fh, offset, whence));
  }

  copyFileRange(
    _ctx: OpContext,
    from: { path: string; fh: number; offset: number },
    to: { path: string; fh: number; offset: number },
    length: number,
    flags: number,
  ): number {
    return check(at.copyFileRange(from.fh, from.offset, to.fh, to.offset, length, flags));
  }

  destroy(): void {
    if (this.rootFd >= 0) close(this.rootFd);
    this.rootFd = -1;
  }
}

// fsync can take seconds on a busy disk: run it on the libuv pool.
function syncFd(fd: number, datasync: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    (datasync ? fdatasync : fsync)(fd, (err) => (err ? reject(new FsError(toErrno(err))) : resolve()));
  });
}

/**
 * A passthrough backend over the host directory `root`.
 *
 * Sets the process umask to 0: the kernel has already applied the caller's
 * umask (or default ACL) to the modes it sends, and the daemon's own umask
 * would otherwise strip bits a second time.
 */
export function createPassthrough(root: string): Vfs {
  try {
    process.umask(0);
  } catch {
    // Worker threads cannot change the umask; the main thread's applies.
  }
  return new PassthroughFs(root);
}
