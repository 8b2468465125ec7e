// Reply encoders. A reply is either an errno (0 = success with no payload) or a
// Buffer that starts with OUT_HEADER_SIZE bytes of room for fuse_out_header, so
// the session writes header and payload in one write(2) without copying.
import { splitTime } from '../vfs/time.ts';
import type { Attr, StatFs } from '../vfs/types.ts';
import {
  ATTR_OUT_SIZE,
  DIRENT_SIZE,
  ENTRY_OUT_SIZE,
  GETXATTR_OUT_SIZE,
  INIT_OUT_SIZE,
  LSEEK_OUT_SIZE,
  OPEN_OUT_SIZE,
  OUT_HEADER_SIZE,
  STATFS_OUT_SIZE,
  WRITE_OUT_SIZE,
} from './abi.ts';
import { putU16, putU32, putU64 } from '../util/le.ts';

export type Reply = number | Buffer;

const H = OUT_HEADER_SIZE;

/**
 * A zeroed reply with room for the header and `size` payload bytes. Carved
 * from Node's shared 8 KiB slab and zeroed here: Buffer.alloc() makes a new
 * ArrayBuffer per call, and its malloc, free and sweeping were a fifth of the
 * daemon's CPU on a stream of small replies.
 */
export function replyBuffer(size: number): Buffer {
  return Buffer.allocUnsafe(H + size).fill(0);
}

/** A reply whose payload the caller fills completely (read data). */
export function replyBufferUnsafe(size: number): Buffer {
  return Buffer.allocUnsafe(H + size);
}

/** The smallest pooled reply, header included (a 4 KiB read); each class above doubles its payload, up to SMALL_LIMIT. */
const SMALLEST = H + 4096;
const SMALL_LIMIT = H + 64 * 1024;
/** Idle buffers kept per small class: at most this many, and at most SMALL_KEEP_BYTES of them. */
const SMALL_KEEP = 16;
const SMALL_KEEP_BYTES = 256 * 1024;

/**
 * Marks a buffer a pool has lent out with that pool, cleared when it comes back. A property rather
 * than a WeakSet of lent buffers: the set's add and delete on every read rehashed its table every few
 * hundred replies (bench/RESULTS.md item 82).
 */
const LENDER = Symbol('lender');
type Lendable = ArrayBuffer & { [LENDER]?: ReplyPool | null };

/**
 * Reply buffers (READ data, READDIR pages) reused once written. A fresh 1 MiB buffer per READ costs
 * page faults and garbage collection on every request: reusing them made reads through the daemon
 * ~3x faster and halved its peak RSS; and a fresh 4 KiB one cost a cached read a tenth or more of
 * its daemon CPU (bench/RESULTS.md items 3 and 54). So replies come in classes: 4, 8, 16, 32 and
 * 64 KiB of payload, each a buffer of its own, so that many small reads waiting on the device at
 * once do not each pin a large one; and `capacity` for anything larger. A buffer is lent by take()
 * and comes back when the session has written the reply that views it; one that never comes back
 * (the read failed) is simply collected.
 */
export class ReplyPool {
  /** Class k: buffers of sizes[k] bytes, header included, ascending; the last class is `capacity`. */
  private readonly sizes: number[] = [];
  /** Idle buffers of each class, and how many of them are kept. */
  private readonly free: ArrayBuffer[][] = [];
  private readonly keepOf: number[] = [];
  private readonly capacity: number;

  /** `capacity`: bytes of the largest buffers, header included; `keep`: idle ones of those kept. */
  constructor(capacity: number, keep = 4) {
    this.capacity = capacity;
    for (let bytes = SMALLEST; bytes <= SMALL_LIMIT && bytes < capacity; bytes = (bytes - H) * 2 + H) {
      this.addClass(bytes, Math.min(SMALL_KEEP, Math.floor(SMALL_KEEP_BYTES / bytes)));
    }
    this.addClass(capacity, keep);
  }

  private addClass(bytes: number, keep: number): void {
    this.sizes.push(bytes);
    this.free.push([]);
    this.keepOf.push(keep);
  }

  /** A reply with room for the header and `size` payload bytes, which the caller fills completely. */
  take(size: number): Buffer {
    const bytes = H + size;
    if (bytes > this.capacity) return replyBufferUnsafe(size);
    let k = 0;
    while (this.sizes[k] < bytes) k++;
    const ab: Lendable = this.free[k].pop() ?? new ArrayBuffer(this.sizes[k]);
    ab[LENDER] = this;
    return Buffer.from(ab, 0, bytes);
  }

  /**
   * Called with every reply written: takes back the buffer behind it if this pool lent it and it is
   * not back already. Most replies (attributes, entries, opens) sit in Node's shared slab: they are
   * turned away by their offset in it (ours start at 0; reaching a slab buffer's `buffer` is a call
   * into V8's runtime), and the rare one at the slab's start by its missing mark.
   */
  giveBack(reply: Buffer): void {
    if (reply.byteOffset !== 0) return;
    const ab = reply.buffer as Lendable;
    if (ab[LENDER] !== this) return;
    ab[LENDER] = null;
    const k = this.sizes.indexOf(ab.byteLength);
    if (this.free[k].length < this.keepOf[k]) this.free[k].push(ab);
  }
}

/** Seconds and nanoseconds of a time in milliseconds (exact with its nanosecond hint), written as u64 + u32. */
function writeTime(buf: Buffer, ms: number, nsecHint: number | undefined, secAt: number, nsecAt: number): void {
  const t = splitTime(ms, nsecHint);
  putU64(buf, t.sec, secAt);
  putU32(buf, t.nsec, nsecAt);
}

/** Writes a timeout given in ms as u64 seconds at `secAt` and u32 ns at `nsecAt`. */
function writeTimeout(buf: Buffer, ms: number, secAt: number, nsecAt: number): void {
  const sec = Math.floor(ms / 1000);
  putU64(buf, sec, secAt);
  putU32(buf, Math.round((ms - sec * 1000) * 1e6), nsecAt);
}

/** struct fuse_attr (88 bytes) at `at`. */
export function writeAttr(buf: Buffer, attr: Attr, at: number): void {
  putU64(buf, attr.ino, at);
  putU64(buf, attr.size, at + 8);
  putU64(buf, attr.blocks, at + 16);
  writeTime(buf, attr.atimeMs, attr.atimeNsec, at + 24, at + 48);
  writeTime(buf, attr.mtimeMs, attr.mtimeNsec, at + 32, at + 52);
  writeTime(buf, attr.ctimeMs, attr.ctimeNsec, at + 40, at + 56);
  putU32(buf, attr.mode, at + 60);
  putU32(buf, attr.nlink, at + 64);
  putU32(buf, attr.uid, at + 68);
  putU32(buf, attr.gid, at + 72);
  putU32(buf, attr.rdev, at + 76);
  putU32(buf, attr.blksize, at + 80);
  putU32(buf, 0, at + 84);
}

/**
 * struct fuse_entry_out (128 bytes) at `at`. nodeid 0 caches a negative entry. A node id may be
 * handed out again once the kernel forgot it, with another generation: the pair is unique.
 */
export function writeEntryOut(
  buf: Buffer,
  at: number,
  nodeid: number,
  generation: number,
  attr: Attr | null,
  entryTimeoutMs: number,
  attrTimeoutMs: number,
): void {
  putU64(buf, nodeid, at);
  putU64(buf, generation, at + 8);
  writeTimeout(buf, entryTimeoutMs, at + 16, at + 32);
  writeTimeout(buf, attrTimeoutMs, at + 24, at + 36);
  if (attr) writeAttr(buf, attr, at + 40);
  else for (let i = at + 40; i < at + ENTRY_OUT_SIZE; i += 4) putU32(buf, 0, i);
}

// The replies below write every byte of their structs, padding included, so they skip the zeroing
// replyBuffer() does: for a LOOKUP or GETATTR, Buffer's fill() cost a twentieth of the daemon's time.

export function entryOut(nodeid: number, generation: number, attr: Attr | null, entryTimeoutMs: number, attrTimeoutMs: number): Buffer {
  const buf = replyBufferUnsafe(ENTRY_OUT_SIZE);
  writeEntryOut(buf, H, nodeid, generation, attr, entryTimeoutMs, attrTimeoutMs);
  return buf;
}

export function attrOut(attr: Attr, attrTimeoutMs: number): Buffer {
  const buf = replyBufferUnsafe(ATTR_OUT_SIZE);
  writeTimeout(buf, attrTimeoutMs, H, H + 8);
  putU32(buf, 0, H + 12);
  writeAttr(buf, attr, H + 16);
  return buf;
}

/** struct fuse_open_out (16 bytes) at `at`. */
export function writeOpenOut(buf: Buffer, at: number, fh: number, openFlags: number, backingId: number): void {
  putU64(buf, fh, at);
  putU32(buf, openFlags, at + 8);
  putU32(buf, backingId, at + 12);
}

export function openOut(fh: number, openFlags: number, backingId = 0): Buffer {
  const buf = replyBufferUnsafe(OPEN_OUT_SIZE);
  writeOpenOut(buf, H, fh, openFlags, backingId);
  return buf;
}

/** CREATE answers fuse_entry_out followed by fuse_open_out. */
export function createOut(
  nodeid: number,
  generation: number,
  attr: Attr,
  entryTimeoutMs: number,
  attrTimeoutMs: number,
  fh: number,
  openFlags: number,
  backingId = 0,
): Buffer {
  const buf = replyBufferUnsafe(ENTRY_OUT_SIZE + OPEN_OUT_SIZE);
  writeEntryOut(buf, H, nodeid, generation, attr, entryTimeoutMs, attrTimeoutMs);
  writeOpenOut(buf, H + ENTRY_OUT_SIZE, fh, openFlags, backingId);
  return buf;
}

export function writeOut(size: number): Buffer {
  const buf = replyBufferUnsafe(WRITE_OUT_SIZE);
  putU32(buf, size, H);
  putU32(buf, 0, H + 4);
  return buf;
}

export function copyFileRange64Out(size: number): Buffer {
  const buf = replyBuffer(8);
  putU64(buf, size, H);
  return buf;
}

export function statfsOut(st: StatFs): Buffer {
  const buf = replyBuffer(STATFS_OUT_SIZE);
  putU64(buf, st.blocks, H);
  putU64(buf, st.bfree, H + 8);
  putU64(buf, st.bavail, H + 16);
  putU64(buf, st.files, H + 24);
  putU64(buf, st.ffree, H + 32);
  putU32(buf, st.bsize, H + 40);
  putU32(buf, st.namelen, H + 44);
  putU32(buf, st.frsize, H + 48);
  return buf;
}

export function getxattrSizeOut(size: number): Buffer {
  const buf = replyBuffer(GETXATTR_OUT_SIZE);
  putU32(buf, size, H);
  return buf;
}

export function lseekOut(offset: number): Buffer {
  const buf = replyBuffer(LSEEK_OUT_SIZE);
  putU64(buf, offset, H);
  return buf;
}

/** A reply carrying raw bytes (readlink target, xattr value or name list). */
export function bytesOut(data: Buffer): Buffer {
  const buf = replyBufferUnsafe(data.length);
  data.copy(buf, H);
  return buf;
}

export interface InitOut {
  major: number;
  minor: number;
  maxReadahead: number;
  flags: bigint;
  maxBackground: number;
  congestionThreshold: number;
  maxWrite: number;
  timeGran: number;
  maxPages: number;
  maxStackDepth: number;
}

export function initOut(o: InitOut): Buffer {
  const buf = replyBuffer(INIT_OUT_SIZE);
  putU32(buf, o.major, H);
  putU32(buf, o.minor, H + 4);
  putU32(buf, o.maxReadahead, H + 8);
  putU32(buf, Number(o.flags & 0xffffffffn), H + 12);
  putU16(buf, o.maxBackground, H + 16);
  putU16(buf, o.congestionThreshold, H + 18);
  putU32(buf, o.maxWrite, H + 20);
  putU32(buf, o.timeGran, H + 24);
  putU16(buf, o.maxPages, H + 28);
  putU32(buf, Number(o.flags >> 32n), H + 32);
  putU32(buf, o.maxStackDepth, H + 36);
  return buf;
}

/**
 * Packs fuse_dirent / fuse_direntplus records into one reply of at most
 * `size` payload bytes: fits() says whether the next record would;
 * addRecords() and addPlusRecord() copy records a listing holds, encoded as
 * the kernel reads them (vfs/dir-listing.ts).
 */
export class DirentWriter {
  readonly buf: Buffer;
  /**
   * `buf` as 32-bit words, made at the first direntplus record: records start 8-aligned, so those are
   * zeroed and copied a word at a time. Plain READDIR pages are one copy and need none.
   */
  private words: Uint32Array | null = null;
  private pos = H;
  private readonly limit: number;

  /**
   * `buf`: where to pack, at least OUT_HEADER_SIZE + `size` bytes, any content (records are zeroed as
   * written), starting 4-aligned in its ArrayBuffer (as every reply buffer does).
   */
  constructor(size: number, buf: Buffer = replyBufferUnsafe(size)) {
    this.buf = buf.fill(0, 0, H);
    this.limit = H + size;
  }

  /** Bytes a record takes, padded to 8. */
  static recordSize(nameBytes: number, plus: boolean): number {
    return ((plus ? ENTRY_OUT_SIZE : 0) + DIRENT_SIZE + nameBytes + 7) & ~7;
  }

  fits(nameBytes: number, plus: boolean): boolean {
    return this.pos + DirentWriter.recordSize(nameBytes, plus) <= this.limit;
  }

  /** Payload bytes left. */
  room(): number {
    return this.limit - this.pos;
  }

  /** Appends ready-made fuse_dirent records, `src[start, end)`; the caller made sure they fit. */
  addRecords(src: Buffer, start: number, end: number): void {
    this.pos += src.copy(this.buf, this.pos, start, end);
  }

  /**
   * Appends a fuse_direntplus: the fuse_entry_out, which `entry` writes whole (as writeEntryOut does)
   * or, when null, is left zero (no entry: the kernel makes no dentry of it), then the ready-made
   * fuse_dirent record at bytes `[start, end)` of `src`, a listing's records as 32-bit words
   * (DirListing.recordWords). Word loops, not Buffer fill() and copy(): a page holds hundreds of
   * such records, and those calls made a page cost about twice as much (bench/RESULTS.md item 45).
   * Call fits() first.
   */
  addPlusRecord(entry: ((buf: Buffer, at: number) => void) | null, src: Uint32Array, start: number, end: number): void {
    const b = this.buf;
    const w = (this.words ??= new Uint32Array(b.buffer, b.byteOffset, b.length >>> 2));
    let i = this.pos >> 2;
    const entryEnd = i + (ENTRY_OUT_SIZE >> 2);
    if (entry === null) while (i < entryEnd) w[i++] = 0;
    else {
      entry(b, this.pos);
      i = entryEnd;
    }
    for (let j = start >> 2, last = end >> 2; j < last; j++) w[i++] = src[j];
    this.pos = i << 2;
  }

  /** The reply, trimmed to what was written. */
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}
