// The path-level filesystem interface that every backend and layer implements.
// The node table (vfs/node-table.ts) adapts the kernel's inode-based protocol to it.
//
// Methods may answer synchronously or with a Promise: a synchronous answer is
// replied to on the spot, which is what keeps metadata-heavy work fast (see
// shared/notes/fuse-calibration.md). A failure is an FsError, never a plain
// Error (anything else that escapes becomes EIO plus a log line), either thrown
// or returned as the answer. Returning is for paths that fail often (negative
// lookups, absent xattrs): a throw costs the daemon a few microseconds more per
// request, and V8 never optimises a function that only ever ends by throwing.
import type { DirListing } from './dir-listing.ts';
import type { FsError } from './errors.ts';

export type MaybePromise<T> = T | Promise<T>;

/** What an op answers: its result, or the FsError it failed with (a failure may also be thrown). */
export type Answer<T> = MaybePromise<T | FsError>;

/** Who is asking, taken from the request header. */
export interface OpContext {
  readonly uid: number;
  readonly gid: number;
  readonly pid: number;
  /** FUSE request id; lets layers and traces correlate. */
  readonly unique: number;
  /** Aborted when the kernel interrupts the request. */
  readonly signal?: AbortSignal;
  /**
   * Whether other requests wait on the daemon while this one is handled (asked
   * when needed: it costs a poll). A backend about to block on a device hands
   * the call to another thread then, so they need not queue behind it; with
   * nothing waiting, blocking here is cheaper than that hop.
   */
  readonly othersWaiting?: boolean;
  /**
   * Set on a write of pages the kernel writes back from its cache rather than a write(2) waiting
   * for it (its caller learns of a failure only at a later fsync or msync): 'cached' for a file
   * whose pages stay cached as on a local filesystem (writebackCache, or a shared mapping under
   * `cache: auto`), 'direct' for a direct-I/O file, whose only pages are its shared mappings' and
   * which the kernel drops at every mmap, writing dirty ones back first.
   */
  readonly writeback?: 'cached' | 'direct';
  /**
   * The caller's umask, on mknod, mkdir and create: their `mode` does not carry it (FUSE_DONT_MASK). A
   * backend applies it, unless the parent directory has a default ACL, which then decides the mode instead.
   */
  readonly umask?: number;
}

/**
 * File attributes. Times are in milliseconds since the epoch; the *Nsec hints,
 * when a backend knows them, are the exact nanoseconds within the second (see
 * vfs/time.ts: a double in ms resolves only ~244 ns). Whoever changes a time
 * may leave its hint: a hint that no longer agrees with the time is ignored.
 */
export interface Attr {
  ino: number;
  size: number;
  blocks: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
  atimeNsec?: number;
  mtimeNsec?: number;
  ctimeNsec?: number;
  /** Full st_mode, type bits included. */
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  blksize: number;
}

/** A SETATTR request: only the fields present are changed. */
export interface AttrChanges {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  /** Milliseconds since the epoch, or 'now'. */
  atime?: number | 'now';
  mtime?: number | 'now';
  ctime?: number;
  /** Exact nanoseconds within the second of atime/mtime, as the caller gave them (see Attr). */
  atimeNsec?: number;
  mtimeNsec?: number;
}

export interface StatFs {
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  bsize: number;
  namelen: number;
  frsize: number;
}

export interface DirEntry {
  name: string;
  ino: number;
  /** File type bits as in st_mode (S_IFREG, S_IFDIR, ...). */
  type: number;
}

/** A handle returned by open/create/opendir, and how the kernel should cache it. */
export interface OpenResult {
  fh: number;
  /** Bypass the page cache for this file (FOPEN_DIRECT_IO). */
  directIo?: boolean;
  /** Keep cached pages from a previous open (FOPEN_KEEP_CACHE). */
  keepCache?: boolean;
  /** Backing file descriptor for kernel passthrough, when the backend has one. */
  backingFd?: number;
  /** The file's st_mode when it was opened, if the backend knows it (kernel passthrough needs it). */
  mode?: number;
  /** Its ctime then, if the backend knows it: unchanged since the kernel last saw it, its cached pages stay. */
  ctimeMs?: number;
  /** Closing this file can report nothing, so the kernel need not send FLUSH (FOPEN_NOFLUSH). */
  noFlush?: boolean;
  /**
   * Directories: false when the kernel must not keep this directory's listing and answer later
   * readdirs from it (FOPEN_CACHE_DIR | FOPEN_KEEP_CACHE); a layer that acts on readdir says so.
   */
  cacheListing?: boolean;
}

export interface CreateResult extends OpenResult {
  attr: Attr;
}

export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;

/**
 * Every operation takes the context first and a path relative to the mount
 * root ('/' is the root, '/a/b' a file). Handles (fh) are the numbers this same
 * filesystem returned from open/create/opendir. Optional methods answer ENOSYS.
 */
export interface Vfs {
  getattr(ctx: OpContext, path: string, fh?: number): Answer<Attr>;
  setattr(ctx: OpContext, path: string, changes: AttrChanges, fh?: number): Answer<Attr>;
  readlink(ctx: OpContext, path: string): Answer<string>;
  mknod(ctx: OpContext, path: string, mode: number, rdev: number): Answer<Attr>;
  mkdir(ctx: OpContext, path: string, mode: number): Answer<Attr>;
  symlink(ctx: OpContext, target: string, path: string): Answer<Attr>;
  unlink(ctx: OpContext, path: string): Answer<void>;
  rmdir(ctx: OpContext, path: string): Answer<void>;
  rename(ctx: OpContext, from: string, to: string, flags: number): Answer<void>;
  link(ctx: OpContext, existing: string, path: string): Answer<Attr>;
  /** flags are the open(2) flags the caller used. */
  open(ctx: OpContext, path: string, flags: number): Answer<OpenResult>;
  create(ctx: OpContext, path: string, flags: number, mode: number): Answer<CreateResult>;
  /** Fills `into` from `offset`; returns how many bytes it filled (0 at EOF). */
  read(ctx: OpContext, path: string, fh: number, into: Buffer, offset: number): Answer<number>;
  /** Returns how many bytes of `data` were written at `offset`. */
  write(ctx: OpContext, path: string, fh: number, data: Buffer, offset: number): Answer<number>;
  flush(ctx: OpContext, path: string, fh: number): Answer<void>;
  release(ctx: OpContext, path: string, fh: number): Answer<void>;
  fsync(ctx: OpContext, path: string, fh: number, datasync: boolean): Answer<void>;
  statfs(ctx: OpContext, path: string): Answer<StatFs>;
  /** flags: XATTR_CREATE (1) / XATTR_REPLACE (2). */
  setxattr(ctx: OpContext, path: string, name: string, value: Buffer, flags: number): Answer<void>;
  getxattr(ctx: OpContext, path: string, name: string): Answer<Buffer>;
  listxattr(ctx: OpContext, path: string): Answer<string[]>;
  removexattr(ctx: OpContext, path: string, name: string): Answer<void>;
  opendir(ctx: OpContext, path: string): Answer<OpenResult>;
  /**
   * The directory from after cookie `from` (0: the whole of it, '.' and '..' included) to its end;
   * the handle pages it. Cookies must stay valid while the directory changes (see DirListing).
   */
  readdir(ctx: OpContext, path: string, fh: number, from: bigint): Answer<DirListing>;
  releasedir(ctx: OpContext, path: string, fh: number): Answer<void>;
  fsyncdir(ctx: OpContext, path: string, fh: number, datasync: boolean): Answer<void>;
  access(ctx: OpContext, path: string, mask: number): Answer<void>;
  fallocate?(ctx: OpContext, path: string, fh: number, mode: number, offset: number, length: number): Answer<void>;
  /** whence is SEEK_DATA (3) or SEEK_HOLE (4); returns the new offset. */
  lseek?(ctx: OpContext, path: string, fh: number, offset: number, whence: number): Answer<number>;
  copyFileRange?(
    ctx: OpContext,
    from: { path: string; fh: number; offset: number },
    to: { path: string; fh: number; offset: number },
    length: number,
    flags: number,
  ): Answer<number>;
  /** sync(2)/syncfs(2) on the mount: make everything durable. */
  syncfs?(ctx: OpContext, path: string): Answer<void>;
  /** Called once when the filesystem is unmounted. */
  destroy?(): MaybePromise<void>;
  /**
   * Not an op: getattr answered by the filesystem beneath any layers, which neither see nor disturb
   * it (a layer stack passes it to its backend). The bridge looks with it at open files whose pages
   * the kernel caches, for changes made beside the mount.
   */
  getattrBelow?(ctx: OpContext, path: string, fh?: number): Answer<Attr>;
}
