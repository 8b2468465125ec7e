// Reading a backing directory into a DirListing: getdents64 records decoded in
// one pass, and a large ext4 directory that is not in memory read as several
// ranges at once.
import * as at from '../sys/at.ts';
import { close } from '../sys/libc.ts';
import { DirListing, madeUpName } from '../vfs/dir-listing.ts';
import { FsError } from '../vfs/errors.ts';
import type { MaybePromise } from '../vfs/types.ts';
import * as le from '../util/le.ts';
import { check } from './passthrough-support.ts';
import { performance } from '../util/clock.ts';

/** A getdents64 buffer with the views its records are read through. */
class Dents {
  readonly bytes: Buffer;
  // Records start 8-aligned: read their fixed fields through typed views, not Buffer methods (the
  // listing runs rarely, so mostly as unoptimised code, where each method call costs).
  readonly u16: Uint16Array;
  readonly u32: Uint32Array;

  constructor(size: number) {
    this.bytes = Buffer.allocUnsafeSlow(size);
    this.u16 = new Uint16Array(this.bytes.buffer, 0, size / 2);
    this.u32 = new Uint32Array(this.bytes.buffer, 0, size / 4);
  }
}

const DENTS_SIZE = 64 * 1024;
const dents = new Dents(DENTS_SIZE);
/** No cookie's upper half reaches it: a listing that stops only at the directory's end. */
const NEVER = 2 ** 32;

/** ext2/3/4's f_type. */
const EXT4_SUPER_MAGIC = 0xef53;
const STATX_SIZE = 0x200;
/** A read that took this long came from the device: the rest would too, a block at a time. */
const SLOW_READ_MS = 1;
/** Below this the rest of a directory is a few blocks, sooner read here than on the pool. */
const RANGES_MIN_BYTES = 128 * 1024;
/** Ranges read at once: the device reads each one's blocks one after another. */
const RANGES = 4;
/** The upper half of every cookie of a hashed ext4 directory is below this (positions are 63-bit). */
const EXT4_HIGH_END = 2 ** 31;

/**
 * The directory `fd` from after cookie `from` (0: from the start, '.' and '..' included) to its end, with
 * the backing filesystem's own cookies: they stay valid as the directory changes, which positions a
 * listing of ours could not (see DirListing). Read from the fd itself, so it lists the directory that
 * was opened, wherever names have moved since.
 *
 * Read here, by one reader, unless it is a large ext4 directory listed from its start and a read had
 * to wait for the device (took `slowReadMs` or more): then the rest is read in ranges at once, on
 * libuv's pool (readInRanges), which also frees the request thread for other requests meanwhile.
 */
export function listDir(fd: number, from: bigint, slowReadMs = SLOW_READ_MS): MaybePromise<DirListing> {
  check(at.lseek(fd, from, at.SEEK_SET));
  const listing = new DirListing(256);
  if (from !== 0n) return readRest(fd, listing);
  for (;;) {
    const started = performance.now();
    const n = check(at.getdents64(fd, dents.bytes));
    const slow = performance.now() - started >= slowReadMs;
    if (n === 0) return listing;
    appendDents(listing, dents, n, NEVER);
    if (!slow) continue;
    // Hash positions have an upper half; an unhashed directory's byte offsets have none.
    const resumeHigh = Number(listing.cookie(listing.length - 1) >> 32n);
    if (resumeHigh > 0 && resumeHigh < EXT4_HIGH_END - RANGES && isLargeExt4Dir(fd)) return readInRanges(fd, listing, resumeHigh);
    return readRest(fd, listing);
  }
}

/** Appends what is left of `fd` from its position, here. */
function readRest(fd: number, listing: DirListing): DirListing {
  for (;;) {
    const n = check(at.getdents64(fd, dents.bytes));
    if (n === 0) return listing;
    appendDents(listing, dents, n, NEVER);
  }
}

function isLargeExt4Dir(fd: number): boolean {
  if (at.fstatfs(fd) < 0 || le.u64(at.statfsBuf, 0) !== EXT4_SUPER_MAGIC) return false;
  return at.statx(fd, '', at.AT_EMPTY_PATH, STATX_SIZE) >= 0 && le.u64(at.statxBuf, 40) >= RANGES_MIN_BYTES;
}

/**
 * Reads the rest of the ext4 directory `fd`, whose listing so far is `head` and whose position's
 * cookie has upper half `fromHigh`, as RANGES ranges at once: `fd` itself goes on to the first
 * boundary, and each other range has an open file of its own. ext4 lists a hashed directory in hash
 * order, reading the blocks of a range one after another, each a device round trip when cold; ranges
 * read side by side keep several in flight.
 *
 * Why the pieces join into exactly the listing one reader gets: an ext4 cookie is
 * (major hash >> 1) << 32 | minor hash, entries come in (major, minor) order, and a seek to a cookie
 * whose lower half is 0 starts at the first entry whose major hash is at least twice its upper half.
 * So the range started at upper half B holds, in the one reader's order, the entries whose cookie's
 * upper half is B or more, up to the first record whose cookie (the position of the entry after it)
 * reaches the next range's B. (A directory that is not hashed has byte offsets for cookies, below
 * 2^32: listDir reads it here.)
 *
 * A read on the pool that fails (whose errno stays on its thread) lists the directory again here,
 * which throws the error.
 */
function readInRanges(fd: number, head: DirListing, fromHigh: number): Promise<DirListing> {
  const bounds: number[] = [];
  for (let i = 1; i < RANGES; i++) bounds.push(fromHigh + Math.floor((i * (EXT4_HIGH_END - fromHigh)) / RANGES));
  const ranges = [readRange(fd, bounds[0])];
  for (let i = 0; i < bounds.length; i++) ranges.push(readRangeFrom(fd, bounds[i], bounds[i + 1] ?? NEVER));
  // Settled, not all: `fd` must be idle before a failure reads it again.
  return Promise.allSettled(ranges).then((settled) => {
    const pieces = [head];
    for (const s of settled) {
      if (s.status === 'rejected') {
        check(at.lseek(fd, 0, at.SEEK_SET));
        return readRest(fd, new DirListing(256));
      }
      pieces.push(s.value);
    }
    return DirListing.join(pieces);
  });
}

/** The range that starts at upper half `startHigh`, read through an open file of its own. */
function readRangeFrom(dirFd: number, startHigh: number, stopHigh: number): Promise<DirListing> {
  const fd = at.openat2(dirFd, '.', at.O_RDONLY | at.O_DIRECTORY | at.O_CLOEXEC, 0, 0);
  if (fd < 0) return Promise.reject(new FsError(-fd));
  const r = at.lseek(fd, BigInt(startHigh) << 32n, at.SEEK_SET);
  if (r < 0) {
    close(fd);
    return Promise.reject(new FsError(-r));
  }
  const range = readRange(fd, stopHigh);
  void range.then(
    () => close(fd),
    () => close(fd),
  );
  return range;
}

/** Records from `fd`'s position up to the first whose cookie's upper half reaches `stopHigh`, on the pool. */
function readRange(fd: number, stopHigh: number): Promise<DirListing> {
  const listing = new DirListing(256);
  const buf = new Dents(DENTS_SIZE);
  return new Promise<DirListing>((resolve, reject) => {
    const got = (n: number): void => {
      if (n < 0) reject(new Error('getdents64 failed on the pool'));
      else if (n === 0 || appendDents(listing, buf, n, stopHigh)) resolve(listing);
      else at.getdents64Async(fd, buf.bytes, got);
    };
    at.getdents64Async(fd, buf.bytes, got);
  });
}

/**
 * Appends the linux_dirent64 records in the first `n` bytes of `from`, up to and including the first
 * whose cookie's upper half is `stopHigh` or more; returns whether it met one. The loop only calls:
 * the per-record work is a small function V8 compiles as a whole once it has run often enough,
 * whereas a loop is compiled only while it runs (on-stack replacement), and V8 drops that code again
 * at a later collection, so each large listing would start as bytecode (bench/RESULTS.md item 37).
 */
function appendDents(listing: DirListing, from: Dents, n: number, stopHigh: number): boolean {
  for (let off = 0; off < n;) {
    const cookieHigh = from.u32[(off >> 2) + 3];
    off = appendDent(listing, from, off);
    if (cookieHigh >= stopHigh) return true;
  }
  return false;
}

/** Appends the record at `off`; returns where the next one starts. */
function appendDent(listing: DirListing, from: Dents, off: number): number {
  const bytes = from.bytes;
  const reclen = from.u16[(off + 16) >> 1];
  const nameStart = off + 19;
  // The name is NUL-terminated, and the record is padded to 8 bytes after that NUL with whatever
  // the buffer held before: so the NUL is the first zero in the record's last 8 bytes that
  // follows the name's start (a name has no zero bytes). Scanning only those keeps the loop short
  // for long names.
  const recEnd = off + reclen;
  let nameEnd = recEnd - 8 > nameStart ? recEnd - 8 : nameStart;
  while (nameEnd < recEnd && bytes[nameEnd] !== 0) nameEnd++;
  const w = off >> 2;
  const u32 = from.u32;
  listing.pushRecord(bytes, nameStart, nameEnd, u32[w], u32[w + 1], u32[w + 2], u32[w + 3], bytes[off + 18]);
  return recEnd;
}

/**
 * Runs the record code over made-up records until V8 has compiled it. Otherwise a daemon's first
 * listing of a large directory runs it as bytecode, and waits for the compiler threads on a small
 * machine (bench/RESULTS.md items 29 and 37). The records vary as real ones do ('.' and '..', names
 * of every padding, cookies and inode numbers past 2^31, a listing that outgrows its room, a range
 * that ends): compiled code that never saw a case is thrown away at the first record that has it.
 */
export function warmUpListing(): void {
  if (listingWarm) return;
  listingWarm = true;
  let n = 0;
  for (let i = 0; ; i++) {
    const name = madeUpName(i, 16);
    const reclen = (19 + name.length + 1 + 7) & ~7;
    if (n + reclen > DENTS_SIZE) break;
    dents.bytes.fill(0, n, n + reclen);
    const w = n >> 2;
    dents.u32[w] = (i * 2654435761) >>> 0; // d_ino
    dents.u32[w + 1] = i & 1;
    dents.u32[w + 2] = (i * 40503 * 65537) >>> 0; // d_off: a hash on ext4
    dents.u32[w + 3] = (i * 2246822519) >>> 1;
    dents.u16[(n + 16) >> 1] = reclen;
    dents.bytes[n + 18] = i < 2 || i % 7 === 0 ? 4 : 8; // DT_DIR, DT_REG
    dents.bytes.write(name, n + 19, 'latin1');
    n += reclen;
  }
  const listing = new DirListing(16); // grows in the first pass, is emptied for the others
  for (let pass = 0; pass < WARM_UP_PASSES; pass++) {
    listing.clear();
    // The last pass stops midway, as a range does.
    appendDents(listing, dents, n, pass === WARM_UP_PASSES - 1 ? EXT4_HIGH_END / 2 : NEVER);
  }
  appendDents(keptListing, dents, 256, NEVER);
  // And the calls that read a directory, on no file: V8 compiles a function when it is first called
  // (~0.1 ms less before a daemon's first listing reads the directory, bench/RESULTS.md item 68).
  try {
    listDir(-1, 0n);
  } catch {
    // EBADF, as intended
  }
  at.getdents64(-1, dents.bytes);
}
const WARM_UP_PASSES = 8;
/** Once a process is enough: the compiled code is the process's, whichever backend lists. */
let listingWarm = false;

/**
 * A few records kept for the daemon's life. V8 reaches the object shape (map) of a class's instances
 * from its constructor through links a full GC may cut when no instance is alive, and then throws away
 * the compiled code that checks for that shape: listings are rare and short-lived, so without this the
 * record code compiled by the warm-up was gone by the first listing that needed it (bench/RESULTS.md
 * item 37). Filled through appendDents like a real listing: a kept listing filled by push() did not
 * keep the code alive (measured; which object V8 had lost then is not known).
 */
const keptListing = new DirListing(1);
