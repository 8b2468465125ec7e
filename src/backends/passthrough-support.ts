// Decoding what the host kernel hands back (statx, statfs, getdents64) and
// the path arithmetic the passthrough backend resolves with.
import { fdatasync, fdatasyncSync, fsync, fsyncSync } from 'node:fs';
import * as at from '../sys/at.ts';
import * as le from '../util/le.ts';
import { EINVAL, FsError, toErrno } from '../vfs/errors.ts';
import { DirListing } from '../vfs/dir-listing.ts';
import { S_IFMT } from '../vfs/mode.ts';
import type { Attr, MaybePromise, StatFs } from '../vfs/types.ts';

export const STATX_TYPE = 1;
export const STATX_MODE = 2;
export const STATX_CTIME = 0x80;

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

const dents = Buffer.alloc(64 * 1024);
// Records start 8-aligned: read their fixed fields through typed views, not Buffer methods (the listing
// runs rarely, so mostly as unoptimised code, where each method call costs).
const dents32 = new Uint32Array(dents.buffer, dents.byteOffset, dents.length / 4);
const dents16 = new Uint16Array(dents.buffer, dents.byteOffset, dents.length / 2);

/**
 * The directory `fd` from after cookie `from` (0: from the start, '.' and '..' included) to its end, with
 * the backing filesystem's own cookies: they stay valid as the directory changes, which positions a
 * listing of ours could not (see DirListing). Read from the fd itself, so it lists the directory that
 * was opened, wherever names have moved since.
 */
export function listDir(fd: number, from: bigint): DirListing {
  check(at.lseek(fd, from, at.SEEK_SET));
  const listing = new DirListing(256);
  for (;;) {
    const n = check(at.getdents64(fd, dents));
    if (n === 0) return listing;
    appendDents(listing, n);
  }
}

/**
 * Appends the linux_dirent64 records in the first `n` bytes of `dents`. The loop only calls: the
 * per-record work is a small function V8 compiles as a whole once it has run often enough, whereas a
 * loop is compiled only while it runs (on-stack replacement), and V8 drops that code again at a later
 * collection, so each large listing would start as bytecode (bench/RESULTS.md item 37).
 */
function appendDents(listing: DirListing, n: number): void {
  for (let off = 0; off < n;) off = appendDent(listing, off);
}

/** Appends the record at `off`; returns where the next one starts. */
function appendDent(listing: DirListing, off: number): number {
  const reclen = dents16[(off + 16) >> 1];
  const nameStart = off + 19;
  // The name is NUL-terminated, and the record is padded to 8 bytes after that NUL with whatever
  // the buffer held before: so the NUL is the first zero in the record's last 8 bytes that
  // follows the name's start (a name has no zero bytes). Scanning only those keeps the loop short
  // for long names.
  const recEnd = off + reclen;
  let nameEnd = recEnd - 8 > nameStart ? recEnd - 8 : nameStart;
  while (nameEnd < recEnd && dents[nameEnd] !== 0) nameEnd++;
  const w = off >> 2;
  listing.pushRecord(dents, nameStart, nameEnd, dents32[w], dents32[w + 1], dents32[w + 2], dents32[w + 3], dents[off + 18]);
  return recEnd;
}

/**
 * Runs the record code over made-up records until V8 has compiled it. Otherwise a daemon's first
 * listing of a large directory runs it as bytecode, and waits for the compiler threads on a small
 * machine (bench/RESULTS.md items 29 and 37). The records vary as real ones do ('.' and '..', names
 * of every padding, cookies and inode numbers past 2^31, a listing that outgrows its room): compiled
 * code that never saw a case is thrown away at the first record that has it.
 */
export function warmUpListing(): void {
  let n = 0;
  for (let i = 0; ; i++) {
    const name = i === 0 ? '.' : i === 1 ? '..' : `w${i}`.padEnd(2 + (i % 16), 'x');
    const reclen = (19 + name.length + 1 + 7) & ~7;
    if (n + reclen > dents.length) break;
    dents.fill(0, n, n + reclen);
    const w = n >> 2;
    dents32[w] = (i * 2654435761) >>> 0; // d_ino
    dents32[w + 1] = i & 1;
    dents32[w + 2] = (i * 40503 * 65537) >>> 0; // d_off: a hash on ext4
    dents32[w + 3] = (i * 2246822519) >>> 1;
    dents16[(n + 16) >> 1] = reclen;
    dents[n + 18] = i < 2 || i % 7 === 0 ? 4 : 8; // DT_DIR, DT_REG
    dents.write(name, n + 19, 'latin1');
    n += reclen;
  }
  const listing = new DirListing(16); // grows in the first pass, is emptied for the others
  for (let pass = 0; pass < WARM_UP_PASSES; pass++) {
    listing.clear();
    appendDents(listing, n);
  }
  appendDents(keptListing, 256);
}
const WARM_UP_PASSES = 8;

/**
 * A few records kept for the daemon's life. V8 reaches the object shape (map) of a class's instances
 * from its constructor through links a full GC may cut when no instance is alive, and then throws away
 * the compiled code that checks for that shape: listings are rare and short-lived, so without this the
 * record code compiled by the warm-up was gone by the first listing that needed it (bench/RESULTS.md
 * item 37). Filled through appendDents like a real listing: a kept listing filled by push() did not
 * keep the code alive (measured; which object V8 had lost then is not known).
 */
const keptListing = new DirListing(1);

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
