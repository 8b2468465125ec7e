// The Vfs of the RAM backends: the shared namespace (tree.ts), open handles,
// and the data operations, which it hands to a DataStore after the checks that
// every store shares (handle, file type, ranges, flags, times).
import { constants as fsc } from 'node:fs';
import { FsError, E, EBADF, EEXIST, EFBIG, EINVAL, EISDIR, ENXIO, ENOTDIR, EOPNOTSUPP } from '../vfs/errors.ts';
import type { Attr, AttrChanges, MaybePromise, Vfs } from '../vfs/types.ts';
import { S_IFREG } from '../vfs/mode.ts';
import { Tree, clock } from './tree.ts';
import { SlotTable } from '../util/slot-table.ts';
import type { Inode, NodeStore, TreeOptions } from './tree.ts';

const POSIX_ACL_PREFIX = 'system.posix_acl_';

const ENODEV = E.ENODEV;
export const SEEK_DATA = 3;
export const SEEK_HOLE = 4;
export const FALLOC_FL_KEEP_SIZE = 1;
export const FALLOC_FL_PUNCH_HOLE = 2;
export const FALLOC_FL_ZERO_RANGE = 0x10;
/** Offsets stay exact JavaScript integers. */
export const MAX_FILE_SIZE = Number.MAX_SAFE_INTEGER;

/** How a backend keeps the bytes of regular files. Ranges are checked before a call. */
export interface DataStore<D> extends NodeStore<D> {
  /** Fills `into` from `offset`; bytes filled, 0 at EOF. */
  read(node: Inode<D>, into: Buffer, offset: number): number;
  /**
   * Writes `data` (not empty) at `offset`, growing node.size if the store keeps
   * sizes. Like a full disk: returns the bytes that fit, throws ENOSPC if none did.
   */
  write(node: Inode<D>, data: Buffer, offset: number): number;
  truncate(node: Inode<D>, size: number): void;
  /** Reserves [offset, offset+length) or throws ENOSPC; extends the size unless keepSize. */
  allocate(node: Inode<D>, offset: number, length: number, keepSize: boolean): void;
  /** Turns [offset, offset+length) into a hole; the size stays. */
  punch(node: Inode<D>, offset: number, length: number): void;
  /** SEEK_DATA / SEEK_HOLE from `offset`, which is below node.size. */
  seek(node: Inode<D>, offset: number, whence: number): number;
  /** Copies between files (ranges do not overlap, length > 0 within the source size); as write for ENOSPC. */
  copy(src: Inode<D>, srcOffset: number, dst: Inode<D>, dstOffset: number, length: number): number;
  /** The last handle on a still-linked file was closed: a moment to trim slack. */
  settle(node: Inode<D>): void;
  /** Capacity and free space in 4096-byte blocks. */
  space(): { blocks: number; bfree: number };
}

/** The ops whose failures the RAM backends return (the frequent ones: negative lookups, absent xattrs); the rest throw theirs. */
type Returning = 'getattr' | 'getxattr';

/** A Vfs that answers every call synchronously, as the RAM backends do (no layers: nothing beneath them). */
export type SyncVfs = {
  [K in Exclude<keyof Vfs, 'getattrBelow'>]-?: NonNullable<Vfs[K]> extends (...args: infer A) => MaybePromise<infer R>
    ? (...args: A) => K extends Returning ? R : Exclude<R, FsError>
    : never;
};

interface Handle<D> {
  node: Inode<D>;
  flags: number;
}

function checkRange(offset: number, length: number): void {
  if (offset < 0 || length < 0) throw new FsError(EINVAL);
  if (offset + length > MAX_FILE_SIZE) throw new FsError(EFBIG);
}

export function createTreeFs<D>(store: DataStore<D>, options: TreeOptions = {}): SyncVfs {
  const tree = new Tree<D>(store, options);
  const handles = new SlotTable<Handle<D>>();

  function open(node: Inode<D>, flags: number): number {
    const fh = handles.add({ node, flags });
    tree.retain(node);
    return fh;
  }

  function close(fh: number): void {
    const h = handles.delete(fh);
    if (h === undefined) return;
    if (tree.release(h.node) && h.node.isReg) store.settle(h.node);
  }

  function handle(fh: number): Handle<D> {
    const h = handles.get(fh);
    if (h === undefined) throw new FsError(EBADF);
    return h;
  }

  function file(fh: number): Handle<D> {
    const h = handle(fh);
    if (!h.node.isReg) throw new FsError(h.node.isDir ? EISDIR : EINVAL);
    return h;
  }

  /** The inode behind fh when there is one (it may be unlinked), else behind path. */
  function node(path: string, fh: number | undefined): Inode<D> {
    const h = fh === undefined ? undefined : handles.get(fh);
    return h === undefined ? tree.lookup(path) : h.node;
  }

  function truncate(n: Inode<D>, size: number, t: number): void {
    if (!n.isReg) throw new FsError(n.isDir ? EISDIR : EINVAL);
    checkRange(size, 0);
    store.truncate(n, size);
    n.mtimeMs = n.ctimeMs = t;
  }

  function modified(n: Inode<D>): void {
    n.mtimeMs = n.ctimeMs = clock();
  }

  return {
    getattr(_ctx, path, fh): Attr | FsError {
      const n = fh === undefined ? tree.find(path) : node(path, fh);
      return n instanceof FsError ? n : tree.attr(n);
    },
    setattr(_ctx, path, changes: AttrChanges, fh): Attr {
      const n = node(path, fh);
      const t = clock();
      if (changes.size !== undefined) truncate(n, changes.size, t);
      tree.change(n, changes, t);
      return tree.attr(n);
    },
    readlink(_ctx, path) {
      return tree.readlink(path);
    },
    mknod(ctx, path, mode, rdev) {
      return tree.attr(tree.mknod(ctx, path, mode, rdev));
    },
    mkdir(ctx, path, mode) {
      return tree.attr(tree.mkdir(ctx, path, mode));
    },
    symlink(ctx, target, path) {
      return tree.attr(tree.symlink(ctx, target, path));
    },
    unlink(_ctx, path) {
      tree.unlink(path);
    },
    rmdir(_ctx, path) {
      tree.rmdir(path);
    },
    rename(_ctx, from, to, flags) {
      tree.rename(from, to, flags);
    },
    link(_ctx, existing, path) {
      return tree.attr(tree.link(existing, path));
    },
    open(_ctx, path, flags) {
      const n = tree.lookup(path);
      if (flags & fsc.O_TRUNC && n.isReg) truncate(n, 0, clock());
      // Nothing is deferred to close here: the kernel need not send FLUSH.
      return { fh: open(n, flags), noFlush: true };
    },
    create(ctx, path, flags, mode) {
      const at = tree.slot(path, EISDIR);
      let n = at.dir.children!.get(at.name);
      if (n === undefined) {
        n = tree.make(ctx, at, S_IFREG | (mode & 0o7777));
      } else {
        // A CREATE racing a lookup that missed: behave like open(2) with O_CREAT.
        if (flags & fsc.O_EXCL) throw new FsError(EEXIST);
        if (n.isDir) throw new FsError(EISDIR);
        if (flags & fsc.O_TRUNC && n.isReg) truncate(n, 0, clock());
      }
      return { fh: open(n, flags), attr: tree.attr(n), noFlush: true };
    },
    read(_ctx, _path, fh, into, offset) {
      const h = file(fh);
      if (offset < 0) throw new FsError(EINVAL);
      return store.read(h.node, into, offset);
    },
    write(_ctx, _path, fh, data, offset) {
      const h = file(fh);
      const n = h.node;
      const at = h.flags & fsc.O_APPEND ? n.size : offset;
      checkRange(at, data.length);
      if (data.length === 0) return 0;
      const done = store.write(n, data, at);
      modified(n);
      return done;
    },
    flush() {},
    release(_ctx, _path, fh) {
      close(fh);
    },
    fsync() {},
    statfs() {
      const { blocks, bfree } = store.space();
      return {
        blocks,
        bfree,
        bavail: bfree,
        files: tree.maxInodes,
        ffree: tree.maxInodes - tree.live,
        bsize: 4096,
        frsize: 4096,
        namelen: 255,
      };
    },
    setxattr(_ctx, path, name, value, flags) {
      // The kernel enforces a stored ACL, but keeping the mode's bits, chmod and new files in step
      // with it is the filesystem's part, which this tree does not do: it has no ACLs, and says so
      // (setfacl: Operation not supported), as a filesystem mounted without them does.
      if (name.startsWith(POSIX_ACL_PREFIX)) throw new FsError(EOPNOTSUPP, 'no POSIX ACLs in this backend');
      tree.setxattr(tree.lookup(path), name, value, flags);
    },
    getxattr(_ctx, path, name) {
      const n = tree.find(path);
      return n instanceof FsError ? n : tree.getxattr(n, name);
    },
    listxattr(_ctx, path) {
      return tree.listxattr(tree.lookup(path));
    },
    removexattr(_ctx, path, name) {
      tree.removexattr(tree.lookup(path), name);
    },
    opendir(_ctx, path) {
      const n = tree.lookup(path);
      if (!n.isDir) throw new FsError(ENOTDIR);
      return { fh: open(n, 0) };
    },
    readdir(_ctx, path, fh, from) {
      return tree.readdir(node(path, fh), from);
    },
    releasedir(_ctx, _path, fh) {
      close(fh);
    },
    fsyncdir() {},
    access(_ctx, path) {
      tree.lookup(path);
    },
    fallocate(_ctx, _path, fh, mode, offset, length) {
      const n = handle(fh).node;
      const zeroRange = (mode & ~FALLOC_FL_KEEP_SIZE) === FALLOC_FL_ZERO_RANGE;
      if (mode !== 0 && mode !== FALLOC_FL_KEEP_SIZE && mode !== (FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE) && !zeroRange) {
        throw new FsError(EOPNOTSUPP);
      }
      if (offset < 0 || length <= 0) throw new FsError(EINVAL);
      if (n.isDir) throw new FsError(EISDIR);
      if (!n.isReg) throw new FsError(ENODEV);
      checkRange(offset, length);
      if (mode & FALLOC_FL_PUNCH_HOLE) store.punch(n, offset, length);
      else {
        const keepSize = (mode & FALLOC_FL_KEEP_SIZE) !== 0;
        // Room first, so that ENOSPC changes nothing; the range made a hole then takes its room back.
        store.allocate(n, offset, length, keepSize);
        if (zeroRange) {
          store.punch(n, offset, length);
          store.allocate(n, offset, length, keepSize);
        }
      }
      modified(n);
    },
    lseek(_ctx, _path, fh, offset, whence) {
      const n = file(fh).node;
      if (whence !== SEEK_DATA && whence !== SEEK_HOLE) throw new FsError(EINVAL);
      if (offset < 0 || offset >= n.size) throw new FsError(ENXIO);
      return store.seek(n, offset, whence);
    },
    copyFileRange(_ctx, from, to, length, flags) {
      if (flags !== 0) throw new FsError(EINVAL);
      const src = file(from.fh).node;
      const h = file(to.fh);
      if (h.flags & fsc.O_APPEND) throw new FsError(EBADF);
      checkRange(from.offset, 0);
      checkRange(to.offset, length);
      const dst = h.node;
      const n = Math.min(length, Math.max(0, src.size - from.offset));
      if (src === dst && from.offset < to.offset + n && to.offset < from.offset + n) throw new FsError(EINVAL);
      if (n === 0) return 0;
      const done = store.copy(src, from.offset, dst, to.offset, n);
      modified(dst);
      return done;
    },
    syncfs() {},
    destroy() {
      for (const [fh] of [...handles.entries()]) close(fh);
    },
  };
}
