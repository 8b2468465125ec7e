// Decoding what the host kernel hands back (statx, statfs) and
// the path arithmetic the passthrough backend resolves with.
import { fdatasync, fdatasyncSync, fsync, fsyncSync } from 'node:fs';
import * as at from '../sys/at.ts';
import * as le from '../util/le.ts';
import { EINVAL, FsError, toErrno } from '../vfs/errors.ts';
import { S_IFMT } from '../vfs/mode.ts';
import type { Attr, MaybePromise, StatFs } from '../vfs/types.ts';

export const STATX_TYPE = 1;
export const STATX_MODE = 2;
export const STATX_CTIME = 0x80;
export const STATX_SIZE = 0x200;

export function check(r: number): number {
  if (r < 0) throw new FsError(-r);
  return r;
}

/** A statx_timestamp (i64 seconds, u32 nanoseconds) in milliseconds. */
export function timeMs(b: Buffer, o: number): number {
  return le.i64(b, o) * 1000 + le.u32(b, o + 8) / 1e6;
}

/** Decodes the shared statx buffer; call right after a successful statx. */
export function statxAttr(): Attr {
  const b = at.statxBuf;
  const major = le.u32(b, 128);
  const minor = le.u32(b, 132);
  return {
    ino: le.u64(b, 32),
    size: le.u64(b, 40),
    blocks: le.u64(b, 48),
    atimeMs: timeMs(b, 64),
    mtimeMs: timeMs(b, 112),
    ctimeMs: timeMs(b, 96),
    atimeNsec: le.u32(b, 72),
    mtimeNsec: le.u32(b, 120),
    ctimeNsec: le.u32(b, 104),
    mode: le.u16(b, 28),
    nlink: le.u32(b, 16),
    uid: le.u32(b, 20),
    gid: le.u32(b, 24),
    // The kernel's new_encode_dev, which is what FUSE carries.
    rdev: ((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12)) >>> 0,
    blksize: le.u32(b, 4),
  };
}

export function statxMode(): number {
  return le.u16(at.statxBuf, 28);
}

export function statxCtimeMs(): number {
  return timeMs(at.statxBuf, 96);
}

export function statxSize(): number {
  return le.u64(at.statxBuf, 40);
}

export function statxType(): number {
  return statxMode() & S_IFMT;
}

export function isRoot(path: string): boolean {
  return path === '/' || path === '';
}

/** The path relative to the root fd, as openat2 wants it. */
export function relative(path: string): string {
  let i = 0;
  while (path.charCodeAt(i) === 47 /* / */) i++;
  return i === path.length ? '.' : i === 0 ? path : path.slice(i);
}

/** The final component; '.' stands for the root itself. */
export function leafOf(path: string): string {
  if (isRoot(path)) return '.';
  const name = path.slice(path.lastIndexOf('/') + 1);
  // Acting on '..' through the parent's fd would step out of the root.
  if (name === '' || name === '.' || name === '..') throw new FsError(EINVAL);
  return name;
}

/** Decodes the shared statfs buffer; call right after a successful fstatfs. */
export function statfsResult(): StatFs {
  const b = at.statfsBuf;
  return {
    blocks: le.u64(b, at.STATFS_BLOCKS),
    bfree: le.u64(b, at.STATFS_BFREE),
    bavail: le.u64(b, at.STATFS_BAVAIL),
    files: le.u64(b, at.STATFS_FILES),
    ffree: le.u64(b, at.STATFS_FFREE),
    bsize: le.u64(b, at.STATFS_BSIZE),
    namelen: le.u64(b, at.STATFS_NAMELEN),
    frsize: le.u64(b, at.STATFS_FRSIZE),
  };
}

/**
 * fsync(2) or fdatasync(2) of `fd`: here, or on the libuv pool, since fsync can take seconds on a busy
 * disk and everything behind it would wait that long. `here` when a caller that knows the sync is short
 * and nobody waits for the daemon meanwhile would rather skip two thread hops (bench/RESULTS.md item 49).
 */
export function syncFd(fd: number, datasync: boolean, here = false): MaybePromise<void> {
  if (here) {
    try {
      (datasync ? fdatasyncSync : fsyncSync)(fd);
      return;
    } catch (err) {
      throw new FsError(toErrno(err));
    }
  }
  return new Promise((resolve, reject) => {
    (datasync ? fdatasync : fsync)(fd, (err) => (err ? reject(new FsError(toErrno(err))) : resolve()));
  });
}
