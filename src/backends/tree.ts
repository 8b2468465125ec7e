// The namespace shared by the RAM backends: inodes, path walk, directory
// entries, links, rename, ownership, times and xattrs. How a regular file's
// bytes are kept is not decided here: each inode carries an opaque `data` slot
// that a NodeStore fills and frees, so memory and null differ only in the store.
import {
  FsError,
  E,
  EEXIST,
  EINVAL,
  EISDIR,
  EMLINK,
  ENAMETOOLONG,
  ENODATA,
  ENOENT,
  ENOSPC,
  ENOTDIR,
  ENOTEMPTY,
  EPERM,
  ERANGE,
} from '../vfs/errors.ts';
import { RENAME_EXCHANGE, RENAME_NOREPLACE } from '../vfs/types.ts';
import type { Attr, AttrChanges, OpContext } from '../vfs/types.ts';
import { DirEntries } from '../vfs/dir-entries.ts';
import { DirListing } from '../vfs/dir-listing.ts';
import { nameByteLength } from '../util/byte-names.ts';
import { S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK, S_ISGID } from '../vfs/mode.ts';

const MKNOD_TYPES = new Set([0, S_IFREG, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK]);
const EBUSY = E.EBUSY;
const E2BIG = E.E2BIG;
const NAME_MAX = 255;
const SYMLINK_MAX = 4095;
const XATTR_VALUE_MAX = 64 * 1024;
const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;
// As ext4: bounds the directory entries one inode can pin, since names are not
// charged against the size cap.
const LINK_MAX = 65000;
// tmpfs reports directory sizes from a nominal entry size; tools only check > 0.
const BOGO_DIRENT = 20;

/** What the tree needs from the code that owns file contents and space. */
export interface NodeStore<D> {
  /** Gives a new regular file its (empty) contents. */
  init(node: Inode<D>): void;
  /** The inode is gone for good: give its contents' space back. */
  free(node: Inode<D>): void;
  /** st_blocks (512-byte units) of a regular file. */
  blocks(node: Inode<D>): number;
  /**
   * st_blksize of a regular file: its unit of allocation, which SEEK_DATA and SEEK_HOLE answers are
   * as exact as (tools that copy sparse files learn it from here). Default 4096.
   */
  readonly blockSize?: number;
  /** Takes `bytes` of the size cap for metadata (xattrs, symlink targets), or throws ENOSPC. */
  charge(bytes: number): void;
  refund(bytes: number): void;
}

export class Inode<D> {
  readonly ino: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev = 0;
  size = 0;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
  /** Exact nanoseconds of times set explicitly (utimensat); see Attr. */
  atimeNsec: number | undefined = undefined;
  mtimeNsec: number | undefined = undefined;
  /** Directories only; a directory has exactly one parent (no hard links to dirs). */
  children: DirEntries<Inode<D>> | null = null;
  parent: Inode<D> | null = null;
  target = '';
  data: D | undefined = undefined;
  xattrs: Map<string, Buffer> | null = null;
  /** Open handles; an unlinked inode lives on until this drops to 0. */
  opens = 0;

  constructor(ino: number, mode: number, uid: number, gid: number, t: number) {
    this.ino = ino;
    this.mode = mode;
    this.nlink = (mode & S_IFMT) === S_IFDIR ? 2 : 1;
    this.uid = uid;
    this.gid = gid;
    this.atimeMs = this.mtimeMs = this.ctimeMs = t;
  }

  get isDir(): boolean {
    return (this.mode & S_IFMT) === S_IFDIR;
  }
  get isReg(): boolean {
    return (this.mode & S_IFMT) === S_IFREG;
  }
}

let lastTime = 0;
/**
 * Wall-clock milliseconds, nudged forward by a microsecond when called again
 * within the same millisecond, so that two changes in a row get distinct,
 * ordered mtimes (make and rsync compare them) without running ahead of the clock.
 */
export function clock(): number {
  const t = Date.now();
  lastTime = t > lastTime ? t : Math.min(lastTime + 0.001, t + 0.999);
  return lastTime;
}

function checkName(name: string): void {
  // A UTF-16 unit is at most 3 UTF-8 bytes, so short names skip the count.
  if (name.length * 3 > NAME_MAX && nameByteLength(name) > NAME_MAX) throw new FsError(ENAMETOOLONG);
}

export const DEFAULT_MAX_INODES = 1_000_000;

export interface TreeOptions {
  /** Inodes that may exist at once, root included (statfs files). Default 1,000,000. */
  maxInodes?: number;
  /** Permission bits of '/', default 0o755 (tmpfs-like 0o1777 suits shared scratch space). */
  rootMode?: number;
  /** Owner of '/', default the daemon's uid/gid. */
  rootUid?: number;
  rootGid?: number;
}

export interface Slot<D> {
  dir: Inode<D>;
  name: string;
}

export class Tree<D> {
  readonly root: Inode<D>;
  readonly maxInodes: number;
  /** Inodes alive, root included: linked, or unlinked but still open. */
  live = 1;
  private readonly store: NodeStore<D>;
  private nextIno = 2;

  constructor(store: NodeStore<D>, options: TreeOptions = {}) {
    this.store = store;
    this.maxInodes = options.maxInodes ?? DEFAULT_MAX_INODES;
    const mode = S_IFDIR | ((options.rootMode ?? 0o755) & 0o7777);
    const uid = options.rootUid ?? process.getuid?.() ?? 0;
    const gid = options.rootGid ?? process.getgid?.() ?? 0;
    this.root = new Inode<D>(1, mode, uid, gid, clock());
    this.root.children = new DirEntries();
    this.root.parent = this.root;
  }

  /** The inode at `path`; ENOENT, ENOTDIR or ENAMETOOLONG on the way, thrown. */
  lookup(path: string): Inode<D> {
    const node = this.find(path);
    if (node instanceof FsError) throw node;
    return node;
  }

  /** The inode at `path`, or the ENOENT or ENOTDIR met on the way, returned (ENAMETOOLONG is thrown). */
  find(path: string): Inode<D> | FsError {
    let node = this.root;
    const n = path.length;
    let i = 0;
    while (i < n) {
      if (path.charCodeAt(i) === 47) {
        i++;
        continue;
      }
      let j = path.indexOf('/', i);
      if (j < 0) j = n;
      const kids = node.children;
      if (kids === null) return new FsError(ENOTDIR);
      const name = path.slice(i, j);
      const child = kids.get(name);
      if (child === undefined) {
        checkName(name);
        return new FsError(ENOENT);
      }
      node = child;
      i = j + 1;
    }
    return node;
  }

  /** The directory that holds (or would hold) `path`, and the last name. `rootErrno` is thrown for '/'. */
  slot(path: string, rootErrno: number): Slot<D> {
    let end = path.length;
    while (end > 0 && path.charCodeAt(end - 1) === 47) end--;
    const cut = path.lastIndexOf('/', end - 1);
    const name = path.slice(cut + 1, end);
    if (name === '') throw new FsError(rootErrno);
    checkName(name);
    const dir = cut <= 0 ? this.root : this.lookup(path.slice(0, cut));
    if (dir.children === null) throw new FsError(ENOTDIR);
    return { dir, name };
  }

  attr(node: Inode<D>): Attr {
    let size = node.size;
    if (node.children !== null) size = (node.children.size + 2) * BOGO_DIRENT;
    return {
      ino: node.ino,
      size,
      blocks: node.isReg ? this.store.blocks(node) : 0,
      atimeMs: node.atimeMs,
      mtimeMs: node.mtimeMs,
      ctimeMs: node.ctimeMs,
      atimeNsec: node.atimeNsec,
      mtimeNsec: node.mtimeNsec,
      mode: node.mode,
      nlink: node.nlink,
      uid: node.uid,
      gid: node.gid,
      rdev: node.rdev,
      blksize: node.isReg ? (this.store.blockSize ?? 4096) : 4096,
    };
  }

  /** Makes and links a new inode of the type in `mode` (permission bits already umasked). */
  make(ctx: OpContext, at: Slot<D>, mode: number, rdev = 0, target = ''): Inode<D> {
    const kids = at.dir.children!;
    if (kids.has(at.name)) throw new FsError(EEXIST);
    if (this.live >= this.maxInodes) throw new FsError(ENOSPC);
    const type = mode & S_IFMT;
    // The caller's umask (FUSE_DONT_MASK): no default ACLs here to stand in for it.
    // A symlink's mode is always 0777.
    let perm = type === S_IFLNK ? mode & 0o7777 : mode & 0o7777 & ~(ctx.umask ?? 0);
    let gid = ctx.gid;
    // BSD group semantics under a setgid directory, as Linux does it.
    if (at.dir.mode & S_ISGID) {
      gid = at.dir.gid;
      if (type === S_IFDIR) perm |= S_ISGID;
    }
    if (target !== '') this.store.charge(nameByteLength(target));
    const t = clock();
    const node = new Inode<D>(this.nextIno++, type | perm, ctx.uid, gid, t);
    this.live++;
    if (type === S_IFDIR) {
      node.children = new DirEntries();
      node.parent = at.dir;
      at.dir.nlink++;
    } else if (type === S_IFREG) {
      this.store.init(node);
    } else if (type === S_IFLNK) {
      node.target = target;
      node.size = nameByteLength(target);
    } else if (type === S_IFCHR || type === S_IFBLK) {
      node.rdev = rdev;
    }
    kids.set(at.name, node);
    at.dir.mtimeMs = at.dir.ctimeMs = t;
    return node;
  }

  mknod(ctx: OpContext, path: string, mode: number, rdev: number): Inode<D> {
    const type = mode & S_IFMT;
    if (type === S_IFDIR) throw new FsError(EPERM);
    if (!MKNOD_TYPES.has(type)) throw new FsError(EINVAL);
    // mknod(2): a zero file type means a regular file.
    return this.make(ctx, this.slot(path, EEXIST), type === 0 ? mode | S_IFREG : mode, rdev);
  }

  mkdir(ctx: OpContext, path: string, mode: number): Inode<D> {
    return this.make(ctx, this.slot(path, EEXIST), S_IFDIR | (mode & 0o7777));
  }

  symlink(ctx: OpContext, target: string, path: string): Inode<D> {
    if (target === '') throw new FsError(ENOENT);
    if (target.length > SYMLINK_MAX && nameByteLength(target) > SYMLINK_MAX) throw new FsError(ENAMETOOLONG);
    return this.make(ctx, this.slot(path, EEXIST), S_IFLNK | 0o777, 0, target);
  }

  readlink(path: string): string {
    const node = this.lookup(path);
    if ((node.mode & S_IFMT) !== S_IFLNK) throw new FsError(EINVAL);
    return node.target;
  }

  link(existing: string, path: string): Inode<D> {
    const node = this.lookup(existing);
    if (node.isDir) throw new FsError(EPERM);
    if (node.nlink >= LINK_MAX) throw new FsError(EMLINK);
    const at = this.slot(path, EEXIST);
    const kids = at.dir.children!;
    if (kids.has(at.name)) throw new FsError(EEXIST);
    kids.set(at.name, node);
    node.nlink++;
    const t = clock();
    node.ctimeMs = t;
    at.dir.mtimeMs = at.dir.ctimeMs = t;
    return node;
  }

  unlink(path: string): void {
    const at = this.slot(path, EISDIR);
    const node = this.child(at);
    if (node.isDir) throw new FsError(EISDIR);
    at.dir.children!.delete(at.name);
    const t = clock();
    at.dir.mtimeMs = at.dir.ctimeMs = t;
    this.unref(node, t);
  }

  rmdir(path: string): void {
    const at = this.slot(path, EBUSY);
    const node = this.child(at);
    if (!node.isDir) throw new FsError(ENOTDIR);
    if (node.children!.size > 0) throw new FsError(ENOTEMPTY);
    at.dir.children!.delete(at.name);
    at.dir.nlink--;
    const t = clock();
    at.dir.mtimeMs = at.dir.ctimeMs = t;
    this.unref(node, t);
  }

  rename(from: string, to: string, flags: number): void {
    if ((flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) !== 0 || flags === (RENAME_NOREPLACE | RENAME_EXCHANGE)) {
      throw new FsError(EINVAL);
    }
    const src = this.slot(from, EBUSY);
    const node = this.child(src);
    const dst = this.slot(to, EBUSY);
    const other = dst.dir.children!.get(dst.name);
    if (other !== undefined && flags & RENAME_NOREPLACE) throw new FsError(EEXIST);
    if (other === undefined && flags & RENAME_EXCHANGE) throw new FsError(ENOENT);
    if (node.isDir && this.within(dst.dir, node)) throw new FsError(EINVAL);
    if (other === node) return;
    const t = clock();
    if (other !== undefined && flags & RENAME_EXCHANGE) {
      if (other.isDir && this.within(src.dir, other)) throw new FsError(EINVAL);
      src.dir.children!.set(src.name, other);
      dst.dir.children!.set(dst.name, node);
      this.reparent(other, src.dir, dst.dir);
      other.ctimeMs = t;
    } else {
      if (other !== undefined) {
        if (node.isDir && !other.isDir) throw new FsError(ENOTDIR);
        if (!node.isDir && other.isDir) throw new FsError(EISDIR);
        if (other.isDir) {
          if (other.children!.size > 0) throw new FsError(ENOTEMPTY);
          dst.dir.nlink--;
        }
        this.unref(other, t);
      }
      src.dir.children!.delete(src.name);
      dst.dir.children!.set(dst.name, node);
    }
    this.reparent(node, dst.dir, src.dir);
    node.ctimeMs = t;
    src.dir.mtimeMs = src.dir.ctimeMs = t;
    dst.dir.mtimeMs = dst.dir.ctimeMs = t;
  }

  /** Applies everything in `changes` except size, which belongs to the data store. */
  change(node: Inode<D>, changes: AttrChanges, t: number): void {
    if (changes.mode !== undefined) node.mode = (node.mode & S_IFMT) | (changes.mode & 0o7777);
    if (changes.uid !== undefined) node.uid = changes.uid;
    if (changes.gid !== undefined) node.gid = changes.gid;
    if (changes.atime !== undefined) {
      node.atimeMs = changes.atime === 'now' ? t : changes.atime;
      node.atimeNsec = changes.atime === 'now' ? undefined : changes.atimeNsec;
    }
    if (changes.mtime !== undefined) {
      node.mtimeMs = changes.mtime === 'now' ? t : changes.mtime;
      node.mtimeNsec = changes.mtime === 'now' ? undefined : changes.mtimeNsec;
    }
    node.ctimeMs = changes.ctime ?? t;
  }

  readdir(dir: Inode<D>, from: bigint): DirListing {
    const kids = dir.children;
    if (kids === null) throw new FsError(ENOTDIR);
    if (dir.nlink === 0) return new DirListing(0); // removed: not even '.' and '..', as on Linux
    return kids.list(from, dir.ino, (dir.parent ?? dir).ino);
  }

  setxattr(node: Inode<D>, name: string, value: Buffer, flags: number): void {
    checkXattrName(name);
    if (value.length > XATTR_VALUE_MAX) throw new FsError(E2BIG);
    const old = node.xattrs?.get(name);
    if (old !== undefined && flags & XATTR_CREATE) throw new FsError(EEXIST);
    if (old === undefined && flags & XATTR_REPLACE) throw new FsError(ENODATA);
    // A new attribute also pays for its name.
    const grow = value.length - (old === undefined ? -nameByteLength(name) : old.length);
    if (grow > 0) this.store.charge(grow);
    else this.store.refund(-grow);
    // Copied: the caller's buffer may be a view into a request buffer that is reused.
    (node.xattrs ??= new Map()).set(name, Buffer.from(value));
    node.ctimeMs = clock();
  }

  getxattr(node: Inode<D>, name: string): Buffer | FsError {
    checkXattrName(name);
    const value = node.xattrs?.get(name);
    return value === undefined ? new FsError(ENODATA) : Buffer.from(value);
  }

  listxattr(node: Inode<D>): string[] {
    return node.xattrs === null ? [] : [...node.xattrs.keys()];
  }

  removexattr(node: Inode<D>, name: string): void {
    checkXattrName(name);
    const value = node.xattrs?.get(name);
    if (value === undefined) throw new FsError(ENODATA);
    node.xattrs!.delete(name);
    this.store.refund(nameByteLength(name) + value.length);
    node.ctimeMs = clock();
  }

  /** A handle was opened on `node`. */
  retain(node: Inode<D>): void {
    node.opens++;
  }

  /** A handle on `node` was closed; true when that was the last one and the inode lives on. */
  release(node: Inode<D>): boolean {
    if (--node.opens > 0) return false;
    if (node.nlink === 0) {
      this.drop(node);
      return false;
    }
    return true;
  }

  private child(at: Slot<D>): Inode<D> {
    const node = at.dir.children!.get(at.name);
    if (node === undefined) throw new FsError(ENOENT);
    return node;
  }

  /** Is `dir` the same as `ancestor` or below it? */
  private within(dir: Inode<D>, ancestor: Inode<D>): boolean {
    for (let d = dir; ; d = d.parent!) {
      if (d === ancestor) return true;
      if (d === this.root) return false;
    }
  }

  private reparent(node: Inode<D>, to: Inode<D>, from: Inode<D>): void {
    if (!node.isDir || to === from) return;
    node.parent = to;
    to.nlink++;
    from.nlink--;
  }

  /** One name fewer for `node`. */
  private unref(node: Inode<D>, t: number): void {
    node.nlink = node.isDir ? 0 : node.nlink - 1;
    node.ctimeMs = t;
    if (node.nlink === 0 && node.opens === 0) this.drop(node);
  }

  private drop(node: Inode<D>): void {
    this.live--;
    if (node.isReg) this.store.free(node);
    let meta = node.target === '' ? 0 : nameByteLength(node.target);
    if (node.xattrs !== null) for (const [k, v] of node.xattrs) meta += nameByteLength(k) + v.length;
    if (meta > 0) this.store.refund(meta);
    node.xattrs = null;
    node.parent = null;
  }
}

function checkXattrName(name: string): void {
  if (name === '' || (name.length * 3 > NAME_MAX && nameByteLength(name) > NAME_MAX)) throw new FsError(ERANGE);
}
