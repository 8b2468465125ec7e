// Mirrors a host directory. The daemon runs as root and whoever writes into
// the tree controls its symlinks, so nothing here ever resolves a path from
// the host's root: every path is walked beneath one O_PATH fd with openat2
// (RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), and the final component is acted
// on through its parent's fd with the *at call's no-follow flag. A directory
// swapped for a symlink to / mid-operation then yields an error, never a file
// outside the root.
import { read as fsRead } from 'node:fs';
import * as at from '../sys/at.ts';
import { close, getegid, geteuid } from '../sys/libc.ts';
import { EAGAIN, EEXIST, EINVAL, EISDIR, ELOOP, ENAMETOOLONG, ENOENT, ENXIO, EOPNOTSUPP, FsError, toErrno } from '../vfs/errors.ts';
import type { DirListing } from '../vfs/dir-listing.ts';
import { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, S_ISGID, S_ISUID } from '../vfs/mode.ts';
import type { Attr, AttrChanges, CreateResult, MaybePromise, OpContext, OpenResult, StatFs, Vfs } from '../vfs/types.ts';
import {
  STATX_CTIME,
  STATX_MODE,
  STATX_SIZE,
  STATX_TYPE,
  check,
  isRoot,
  leafOf,
  relative,
  statfsResult,
  statxAttr,
  statxCtimeMs,
  statxMode,
  statxSize,
  statxType,
  syncFd,
} from './passthrough-support.ts';
import { clearUmask, underUmask } from '../util/umask.ts';
import { performance } from '../util/clock.ts';
import { listDir, warmUpListing } from './backing-listing.ts';

const RESOLVE = at.RESOLVE_BENEATH | at.RESOLVE_NO_MAGICLINKS;
/** Characters of a path resolved in one openat2: at most 4 bytes each in UTF-8, well within PATH_MAX. */
const PATH_PIECE = 1000;

// Open flags a caller may hand through. openat2 rejects unknown bits with
// EINVAL where open(2) ignores them, and the kernel's f_flags carry internal
// ones (__FMODE_EXEC, FMODE_NONOTIFY) that must not reach it.
// O_DIRECT is left out: data served through the daemon sits in buffers that are
// not block-aligned, so the backing file would answer EINVAL (bindfs drops it too).
const CALLER_FLAGS = at.O_ACCMODE | at.O_APPEND | at.O_TRUNC | at.O_NONBLOCK | at.O_DSYNC | at.O_SYNC | at.O_NOATIME;
const CREATE_EXTRA = at.O_CREAT | at.O_EXCL | at.O_NOFOLLOW | at.O_CLOEXEC | at.O_NOCTTY;

/** Parent-directory fds kept open, and for how long one is trusted (the kernel's default entry timeout). */
const DIR_FD_CACHE = 256;
const DIR_FD_TTL_MS = 1000;

// Filesystems whose close(2) never reports a deferred write error (they have no
// ->flush), so FLUSH's dup+close is a round trip that can tell nothing: ext2/3/4,
// xfs, btrfs, tmpfs, f2fs, zfs, bcachefs. NFS, CIFS, FUSE and the rest keep FLUSH.
const LOCAL_FILESYSTEMS = new Set([0xef53, 0x58465342, 0x9123683e, 0x01021994, 0xf2f52010, 0x2fc12fc1, 0xca451a4e]);

/**
 * Most pages a file may still have to write for its fsync to run on the request thread: 1 MiB,
 * ~10 ms at 100 MB/s. Beyond that, or where the kernel cannot say (before Linux 6.5), it runs on
 * the libuv pool.
 */
const SYNC_HERE_MAX_PAGES = 256;

export interface PassthroughOptions {
  /**
   * Largest file, in bytes, whose content an open for reading starts reading ahead; 0 (the default
   * here) never. Mounts take it from `backend.prefetch`, whose default (128 KiB) is the config's.
   */
  prefetchMax?: number;
  /**
   * The mount is `noatime`: the daemon's reads must not update the backing files' access times.
   * Root only (O_NOATIME needs the file's owner or CAP_FOWNER). Under kernel passthrough the kernel
   * reads the backing file with the caller's flags, which this does not reach.
   */
  noAtime?: boolean;
}

/** Throws the errno open(2) would give for a node of this type, unless it is a regular file. */
function notRegular(type: number): void {
  if (type === S_IFREG) return;
  throw new FsError(type === S_IFDIR ? EISDIR : type === S_IFLNK ? ELOOP : ENXIO);
}

export class PassthroughFs implements Vfs {
  readonly root: string;
  private rootFd: number;
  /** /proc/self/fd, for reopening pinned nodes; -1 without /proc. */
  private procFd: number;
  private readonly ownerFixup: boolean;
  private readonly euid: number;
  private readonly egid: number;
  private readonly dirFds = new Map<string, { fd: number; at: number }>();
  /** The fd dirOf() returned last, which eviction spares. */
  private lastDirFd = -1;
  /** By fd: the file's last read missed the page cache. A hint only: a reused fd inherits it, which costs one poll. */
  private readonly missedLast = new Uint8Array(65536);
  /** The root's device (major, minor) when it is a local filesystem whose close(2) reports nothing; else null. */
  private readonly localDev: [number, number] | null;
  private readonly prefetchMax: number;
  /** O_NOATIME for every open of a file or directory when PassthroughOptions.noAtime, else 0. */
  private readonly noAtime: number;

  constructor(root: string, options: PassthroughOptions = {}) {
    this.root = root;
    this.prefetchMax = options.prefetchMax ?? 0;
    // The configured root itself is trusted (the admin chose it), so it may be
    // reached through symlinks; nothing beneath it is.
    const fd = at.openat2(at.AT_FDCWD, root, at.O_PATH | at.O_DIRECTORY | at.O_CLOEXEC, 0, 0);
    if (fd < 0) throw new FsError(-fd, `cannot open passthrough root ${root}`);
    this.rootFd = fd;
    this.procFd = at.openat2(at.AT_FDCWD, '/proc/self/fd', at.O_PATH | at.O_DIRECTORY | at.O_CLOEXEC, 0, 0);
    this.euid = geteuid();
    this.egid = getegid();
    this.noAtime = options.noAtime && this.euid === 0 ? at.O_NOATIME : 0;
    // Only root can give files away; unprivileged daemons create as themselves.
    this.ownerFixup = this.euid === 0;
    check(at.fstatfs(fd));
    const local = LOCAL_FILESYSTEMS.has(at.statfsBuf.readUInt32LE(0));
    check(at.statx(fd, '', at.AT_EMPTY_PATH, STATX_TYPE));
    this.localDev = local ? [at.statxBuf.readUInt32LE(136), at.statxBuf.readUInt32LE(140)] : null;
  }

  /** openat2 beneath `dirfd`. EAGAIN means a concurrent rename raced a '..' step: retry. */
  private resolve(dirfd: number, rel: string, flags: number, mode = 0): number {
    if (rel.length > PATH_PIECE) return this.resolveInPieces(dirfd, rel, flags, mode);
    for (let tries = 0; ; tries++) {
      const fd = at.openat2(dirfd, rel, flags, mode, RESOLVE);
      if (fd >= 0) return fd;
      if (fd !== -EAGAIN || tries >= 16) throw new FsError(-fd);
    }
  }

  /**
   * A path longer than the kernel takes in one call (PATH_MAX, 4,096 bytes), which a tree may hold
   * all the same (a program reaches such a file a directory at a time): resolved a piece at a time,
   * each piece beneath the directory the last one reached, so still beneath the root.
   */
  private resolveInPieces(dirfd: number, rel: string, flags: number, mode: number): number {
    const cut = rel.lastIndexOf('/', PATH_PIECE);
    if (cut <= 0) throw new FsError(ENAMETOOLONG);
    const dir = this.resolve(dirfd, rel.slice(0, cut), at.O_PATH | at.O_DIRECTORY | at.O_CLOEXEC);
    try {
      return this.resolve(dir, rel.slice(cut + 1), flags, mode);
    } finally {
      close(dir);
    }
  }

  /**
   * An O_PATH fd for the directory holding `path`'s final component. Kept in a
   * small cache keyed by the directory's path, so that a burst of creates,
   * lookups or unlinks in one directory resolves it once rather than per call
   * (22 % of the daemon's CPU on small files, bench/RESULTS.md). A cached fd
   * follows its directory's inode: renames and rmdirs through the mount drop
   * the entries they affect, and entries expire after DIR_FD_TTL_MS so that a
   * rename made on the host is seen as late as the kernel's own name cache
   * sees it. The fd is owned by the cache: callers never close it.
   */
  private dirOf(path: string): number {
    const slash = path.lastIndexOf('/');
    if (isRoot(path) || slash <= 0) return this.rootFd;
    const dir = path.slice(0, slash);
    const now = performance.now();
    const hit = this.dirFds.get(dir);
    if (hit !== undefined) {
      // A hit leaves the map as it is: moving the entry to the end (delete + set) on every call
      // made V8 rehash the map every few hundred calls, most of the daemon's old-generation garbage.
      if (now - hit.at < DIR_FD_TTL_MS) return (this.lastDirFd = hit.fd);
      this.dirFds.delete(dir);
      close(hit.fd);
    }
    const fd = this.resolve(this.rootFd, relative(dir), at.O_PATH | at.O_DIRECTORY | at.O_CLOEXEC);
    this.dirFds.set(dir, { fd, at: now });
    // The first entry is the oldest opened, so the nearest to expiring: evicting it is as good as
    // evicting the least recently used. Except the fd the previous call returned, which twoNames()
    // still holds.
    if (this.dirFds.size > DIR_FD_CACHE) {
      for (const [oldest, entry] of this.dirFds) {
        if (entry.fd === this.lastDirFd) continue;
        this.dirFds.delete(oldest);
        close(entry.fd);
        break;
      }
    }
    return (this.lastDirFd = fd);
  }

  /** Drops cached fds of `dir` and of every directory beneath it (it was renamed or removed). */
  private forgetDirs(dir: string): void {
    const under = dir + '/';
    for (const [p, entry] of this.dirFds) {
      if (p !== dir && !p.startsWith(under)) continue;
      this.dirFds.delete(p);
      close(entry.fd);
    }
  }

  /** Whether closing `fd`'s file can report nothing: it is on the root's local filesystem. Reads the statx buffer. */
  private closesQuietly(): boolean {
    const b = at.statxBuf;
    return this.localDev !== null && b.readUInt32LE(136) === this.localDev[0] && b.readUInt32LE(140) === this.localDev[1];
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
    check(at.statx(dirfd, '', at.AT_EMPTY_PATH, STATX_TYPE | STATX_MODE));
    if (statxMode() & S_ISGID) gid = -1;
    // chown clears set-id bits on non-directories; the caller asked for them. The mode they go back
    // with is the one made, with what the umask or a default ACL took off.
    const setId = (mode & (S_ISUID | S_ISGID)) !== 0 && (mode & S_IFMT) !== S_IFDIR;
    let made = 0;
    if (setId) {
      check(at.statx(fd, '', at.AT_EMPTY_PATH, STATX_TYPE | STATX_MODE));
      made = statxMode();
    }
    check(at.fchownat(fd, '', ctx.uid, gid, at.AT_EMPTY_PATH));
    if (setId) at.fchmodat(fd, '', made & 0o7777, at.AT_EMPTY_PATH);
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

  // A failure is returned, not thrown: negative lookups are a large share of the requests of a build or an untar.
  getattr(_ctx: OpContext, path: string, fh?: number): Attr | FsError {
    let r: number;
    if (fh !== undefined) r = at.statx(fh, '', at.AT_EMPTY_PATH);
    else if (isRoot(path)) r = at.statx(this.rootFd, '', at.AT_EMPTY_PATH);
    else {
      const name = leafOf(path);
      r = at.statx(this.dirOf(path), name, at.AT_SYMLINK_NOFOLLOW);
    }
    return r < 0 ? new FsError(-r) : statxAttr();
  }

  setattr(_ctx: OpContext, path: string, changes: AttrChanges, fh?: number): Attr {
    if (fh !== undefined) return this.setattrFd(fh, changes);
    const name = leafOf(path);
    const d = this.dirOf(path);
    // Owner before mode: chown clears set-id bits the new mode may ask for.
    if (changes.uid !== undefined || changes.gid !== undefined) {
      check(at.fchownat(d, name, changes.uid ?? -1, changes.gid ?? -1, at.AT_SYMLINK_NOFOLLOW));
    }
    if (changes.mode !== undefined) check(at.fchmodat(d, name, changes.mode & 0o7777, at.AT_SYMLINK_NOFOLLOW));
    if (changes.size !== undefined) this.truncate(d, name, changes.size);
    if (changes.atime !== undefined || changes.mtime !== undefined) {
      check(at.utimensat(d, name, changes.atime, changes.mtime, at.AT_SYMLINK_NOFOLLOW, changes.atimeNsec, changes.mtimeNsec));
    }
    check(at.statx(d, name, at.AT_SYMLINK_NOFOLLOW));
    return statxAttr();
  }

  // Through the handle, so an unlinked-but-open file can still be changed.
  private setattrFd(fd: number, changes: AttrChanges): Attr {
    if (changes.uid !== undefined || changes.gid !== undefined) {
      check(at.fchownat(fd, '', changes.uid ?? -1, changes.gid ?? -1, at.AT_EMPTY_PATH));
    }
    if (changes.mode !== undefined) check(at.fchmod(fd, changes.mode & 0o7777));
    if (changes.size !== undefined) check(at.ftruncate(fd, changes.size));
    if (changes.atime !== undefined || changes.mtime !== undefined) {
      check(at.utimensat(fd, null, changes.atime, changes.mtime, 0, changes.atimeNsec, changes.mtimeNsec));
    }
    check(at.statx(fd, '', at.AT_EMPTY_PATH));
    return statxAttr();
  }

  private truncate(dirfd: number, name: string, size: number): void {
    let fd: number;
    try {
      fd = this.openRegular(dirfd, name, at.O_WRONLY);
    } catch (err) {
      // truncate(2) answers EINVAL for anything but a file or a directory.
      if (err instanceof FsError && err.errno === ENXIO) throw new FsError(EINVAL);
      throw err;
    }
    try {
      check(at.ftruncate(fd, size));
    } finally {
      close(fd);
    }
  }

  readlink(_ctx: OpContext, path: string): string {
    const name = leafOf(path);
    const d = this.dirOf(path);
    const target = at.readlinkat(d, name);
    if (typeof target === 'number') throw new FsError(-target);
    return target;
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
    check(underUmask(ctx.umask, () => at.mknodat(d, name, mode, rdev)));
    return this.created(ctx, d, name, mode);
  }

  mkdir(ctx: OpContext, path: string, mode: number): Attr {
    const name = leafOf(path);
    const d = this.dirOf(path);
    check(underUmask(ctx.umask, () => at.mkdirat(d, name, mode & 0o7777)));
    return this.created(ctx, d, name, S_IFDIR | (mode & 0o7777));
  }

  symlink(ctx: OpContext, target: string, path: string): Attr {
    const name = leafOf(path);
    const d = this.dirOf(path);
    check(at.symlinkat(target, d, name));
    return this.created(ctx, d, name, S_IFLNK | 0o777);
  }

  unlink(_ctx: OpContext, path: string): void {
    this.remove(path, 0);
  }

  rmdir(_ctx: OpContext, path: string): void {
    this.forgetDirs(path);
    this.remove(path, at.AT_REMOVEDIR);
  }

  private remove(path: string, flags: number): void {
    const name = leafOf(path);
    const d = this.dirOf(path);
    check(at.unlinkat(d, name, flags));
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
    const d2 = this.dirOf(to);
    if (rename) {
      // Directories moved or replaced take their cached fds' paths with them.
      this.forgetDirs(from);
      this.forgetDirs(to);
      check(at.renameat2(d1, fromName, d2, toName, flags));
      return undefined;
    }
    // No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink, as link(2) does on Linux.
    check(at.linkat(d1, fromName, d2, toName, 0));
    check(at.statx(d2, toName, at.AT_SYMLINK_NOFOLLOW));
    return statxAttr();
  }

  open(ctx: OpContext, path: string, flags: number): OpenResult {
    const fd = this.openRegular(this.dirOf(path), leafOf(path), (flags & CALLER_FLAGS) | this.noAtime);
    this.prefetch(ctx, fd, flags);
    return { fh: fd, backingFd: fd, mode: statxMode(), ctimeMs: statxCtimeMs(), noFlush: this.closesQuietly() };
  }

  /**
   * Starts reading a small file opened for reading before the open is answered, so that the device
   * read overlaps the reply's way back and the caller's wake-up instead of waiting for the caller's
   * first read (on the bench's VM that read came 13–26 µs after the reply, about a tenth of a cold
   * small file's time: bench/RESULTS.md item 83). A hint the kernel may drop: cached pages cost it a
   * lookup, and no error matters. Not for writers, nor O_DIRECT readers (who skip the page cache);
   * nor larger files, where the kernel's own readahead at the first read is as good and a reader
   * may want a few pages of a large file only. Nor while other requests wait: starting the read
   * costs the daemon's CPU what it saves the caller's, and with several clients at once the
   * daemon's CPU is what they wait for. Call right after openRegular (its statx).
   */
  private prefetch(ctx: OpContext, fd: number, flags: number): void {
    if ((flags & at.O_ACCMODE) === at.O_WRONLY || flags & at.O_DIRECT) return;
    const size = statxSize();
    if (size > 0 && size <= this.prefetchMax && !ctx.othersWaiting) at.fadvise(fd, 0, size, at.POSIX_FADV_WILLNEED);
  }

  /**
   * Opens the regular file at `rel` beneath `dirfd` without ever opening
   * anything else. The kernel only sends OPEN for regular files, but a name
   * can be rebound between its lookup and our open: opening a swapped-in
   * device can have side effects (a watchdog armed, a tape rewound) and a
   * FIFO would block the event loop. So the node is pinned O_PATH, checked,
   * and reopened through its /proc/self/fd magic link, which reaches exactly
   * that inode (about 5µs more than opening by name). Leaves the file's
   * statx in the shared buffer.
   */
  private openRegular(dirfd: number, rel: string, flags: number): number {
    if (this.procFd >= 0) {
      const pin = this.resolve(dirfd, rel, at.O_PATH | at.O_NOFOLLOW | at.O_CLOEXEC);
      try {
        check(at.statx(pin, '', at.AT_EMPTY_PATH, STATX_TYPE | STATX_MODE | STATX_CTIME | STATX_SIZE));
        notRegular(statxType());
        return check(at.openat2(this.procFd, String(pin), flags | at.O_CLOEXEC | at.O_NOCTTY, 0, 0));
      } finally {
        close(pin);
      }
    }
    // No /proc: open by name without blocking on a FIFO, and check afterwards.
    const fd = this.resolve(dirfd, rel, flags | at.O_NONBLOCK | at.O_NOFOLLOW | at.O_CLOEXEC | at.O_NOCTTY);
    const r = at.statx(fd, '', at.AT_EMPTY_PATH, STATX_TYPE | STATX_MODE | STATX_CTIME | STATX_SIZE);
    const type = statxType();
    if (r >= 0 && type === S_IFREG) return fd;
    close(fd);
    if (r < 0) throw new FsError(-r);
    notRegular(type);
    return -1;
  }

  create(ctx: OpContext, path: string, flags: number, mode: number): CreateResult {
    const name = leafOf(path);
    const d = this.dirOf(path);
    let fd = -1;
    try {
      let made = false;
      // O_EXCL first, so we know whether the file is ours to give away; a
      // caller without O_EXCL then gets the existing file, as open(2) would.
      for (let tries = 0; fd < 0; tries++) {
        const how = (flags & CALLER_FLAGS) | CREATE_EXTRA | this.noAtime;
        fd = underUmask(ctx.umask, () => at.openat2(d, name, how, mode & 0o7777, RESOLVE));
        if (fd >= 0) {
          made = true;
          break;
        }
        if (fd !== -EEXIST || flags & at.O_EXCL || tries >= 16) throw new FsError(-fd);
        try {
          fd = this.openRegular(d, name, (flags & CALLER_FLAGS) | this.noAtime);
        } catch (err) {
          if (!(err instanceof FsError && err.errno === ENOENT)) throw err;
        }
      }
      if (made && this.needsOwner(ctx)) this.giveAway(ctx, d, fd, S_IFREG | mode);
      check(at.statx(fd, '', at.AT_EMPTY_PATH));
      return { fh: fd, backingFd: fd, attr: statxAttr(), noFlush: this.closesQuietly() };
    } catch (err) {
      // Never close twice: another thread may already own the number again.
      if (fd >= 0) close(fd);
      throw err;
    }
  }

  /**
   * Served from the page cache on this thread when it can be. A read that must
   * wait for the device runs on the libuv pool while other requests are
   * waiting, so that several device reads overlap (a 4-job random read is
   * otherwise one device read at a time); alone, it blocks here, which costs
   * less than the hop to another thread. A file whose last read missed the
   * cache asks first whether anyone waits: alone, a plain read does it all,
   * and trying the cache first made lone random reads ~12 % slower.
   */
  read(ctx: OpContext, _path: string, fh: number, into: Buffer, offset: number): MaybePromise<number> {
    const known = fh < this.missedLast.length;
    let alone: boolean | undefined;
    if (known && this.missedLast[fh] === 1) {
      alone = !ctx.othersWaiting;
      if (alone) return readFrom(fh, into, offset);
    }
    const cached = at.preadCached(fh, into, offset);
    if (cached === into.length || cached === 0) {
      if (known) this.missedLast[fh] = 0;
      return cached;
    }
    if (cached < 0 && cached !== -EAGAIN && cached !== -EOPNOTSUPP) throw new FsError(-cached);
    if (known) this.missedLast[fh] = 1;
    const done = cached > 0 ? cached : 0;
    const rest = done > 0 ? into.subarray(done) : into;
    if (alone ?? !ctx.othersWaiting) return done + readFrom(fh, rest, offset + done);
    return new Promise((resolve, reject) => {
      fsRead(fh, rest, 0, rest.length, offset + done, (err, n) => (err ? reject(new FsError(toErrno(err))) : resolve(done + n)));
    });
  }

  write(_ctx: OpContext, _path: string, fh: number, data: Buffer, offset: number): number {
    return check(at.pwrite(fh, data, offset));
  }

  // close() of a duplicate reports deferred write errors (NFS and the like)
  // at the caller's close(2), as libfuse's passthrough does.
  flush(_ctx: OpContext, _path: string, fh: number): void {
    check(close(check(at.dup(fh))));
  }

  release(_ctx: OpContext, _path: string, fh: number): void {
    close(fh);
  }

  fsync(ctx: OpContext, _path: string, fh: number, datasync: boolean): MaybePromise<void> {
    return syncFd(fh, datasync, syncsQuickly(ctx, fh));
  }

  async syncfs(): Promise<void> {
    const fd = this.resolve(this.rootFd, '.', at.O_RDONLY | at.O_DIRECTORY | at.O_CLOEXEC);
    try {
      check(await at.syncfsAsync(fd));
    } finally {
      close(fd);
    }
  }

  statfs(_ctx: OpContext, path: string): StatFs {
    if (isRoot(path)) {
      check(at.fstatfs(this.rootFd));
      return statfsResult();
    }
    const fd = this.resolve(this.dirOf(path), leafOf(path), at.O_PATH | at.O_NOFOLLOW | at.O_CLOEXEC);
    try {
      check(at.fstatfs(fd));
      return statfsResult();
    } finally {
      close(fd);
    }
  }

  setxattr(_ctx: OpContext, path: string, name: string, value: Buffer, flags: number): void {
    const leaf = leafOf(path);
    const d = this.dirOf(path);
    check(at.setxattrat(d, leaf, at.AT_SYMLINK_NOFOLLOW, name, value, flags));
  }

  // Returned like getattr's: the kernel asks for security.capability before writes and chowns, mostly absent.
  getxattr(_ctx: OpContext, path: string, name: string): Buffer | FsError {
    const leaf = leafOf(path);
    const d = this.dirOf(path);
    const value = at.getxattrat(d, leaf, at.AT_SYMLINK_NOFOLLOW, name);
    return typeof value === 'number' ? new FsError(-value) : value;
  }

  listxattr(_ctx: OpContext, path: string): string[] {
    const leaf = leafOf(path);
    const d = this.dirOf(path);
    const names = at.listxattrat(d, leaf, at.AT_SYMLINK_NOFOLLOW);
    if (typeof names === 'number') throw new FsError(-names);
    return names;
  }

  removexattr(_ctx: OpContext, path: string, name: string): void {
    const leaf = leafOf(path);
    const d = this.dirOf(path);
    check(at.removexattrat(d, leaf, at.AT_SYMLINK_NOFOLLOW, name));
  }

  opendir(_ctx: OpContext, path: string): OpenResult {
    const fd = this.resolve(this.dirOf(path), leafOf(path), at.O_RDONLY | at.O_DIRECTORY | at.O_NOFOLLOW | at.O_CLOEXEC | this.noAtime);
    // Its ctime tells the bridge whether a listing the kernel kept is still this directory's.
    return at.statx(fd, '', at.AT_EMPTY_PATH, STATX_CTIME) < 0 ? { fh: fd } : { fh: fd, ctimeMs: statxCtimeMs() };
  }

  readdir(_ctx: OpContext, _path: string, fh: number, from: bigint): MaybePromise<DirListing> {
    return listDir(fh, from);
  }

  releasedir(_ctx: OpContext, _path: string, fh: number): void {
    close(fh);
  }

  fsyncdir(ctx: OpContext, _path: string, fh: number, datasync: boolean): MaybePromise<void> {
    return syncFd(fh, datasync, syncsQuickly(ctx, fh));
  }

  // With default_permissions the kernel checks the mode bits; what is left
  // is whether the node still exists.
  access(_ctx: OpContext, path: string, _mask: number): void {
    if (isRoot(path)) return;
    close(this.resolve(this.dirOf(path), leafOf(path), at.O_PATH | at.O_NOFOLLOW | at.O_CLOEXEC));
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
    for (const { fd } of this.dirFds.values()) close(fd);
    this.dirFds.clear();
    if (this.rootFd >= 0) close(this.rootFd);
    if (this.procFd >= 0) close(this.procFd);
    this.rootFd = -1;
    this.procFd = -1;
  }
}

/**
 * Whether an fsync of `fd` should block the request thread: nobody else waits for the daemon, and
 * little is left to write. It then costs the client no hop to the pool and back (two thread
 * wake-ups, ~50-100 µs on a VM; bench/RESULTS.md item 49); a directory's own pages are none, so
 * fsyncdir waits only for the journal. What the journal commit drags along from other files
 * cannot be told, which is the same bet a lone read that misses the cache makes.
 */
function syncsQuickly(ctx: OpContext, fd: number): boolean {
  if (ctx.othersWaiting) return false;
  const pages = at.unsyncedPages(fd);
  return pages >= 0 && pages <= SYNC_HERE_MAX_PAGES;
}

function readFrom(fd: number, into: Buffer, offset: number): number {
  return check(at.pread(fd, into, offset));
}

/**
 * A passthrough backend over the host directory `root`.
 *
 * Sets the process umask to 0: each new node is made under its caller's umask
 * (OpContext.umask, underUmask), which the daemon's own would otherwise join.
 */
export function createPassthrough(root: string, options: PassthroughOptions = {}): Vfs {
  try {
    clearUmask();
  } catch {
    // Worker threads cannot change the umask; the main thread's applies.
  }
  warmUpListing();
  return new PassthroughFs(root, options);
}
