// A directory listing kept as the fuse_dirent records READDIR sends, built in
// the one pass that reads the directory. A READDIR page is then one copy of
// the records that fit; a name becomes a string only when something asks for
// it (READDIRPLUS looks its entries up by name). A listing of 10,000 entries
// is a few allocations instead of 10,000 strings and objects.
import { DIRENT_SIZE } from '../fuse/abi.ts';
import { S_IFMT } from './mode.ts';
import type { DirEntry } from './types.ts';
import { decodeName, writeName } from '../util/byte-names.ts';

const TWO_32 = 2 ** 32;

/**
 * A record's offset is its cookie: the position READDIR resumes after it. Cookies come from whoever
 * made the listing (the backing filesystem's d_off, or DirEntries) and must stay valid as the directory
 * changes, because the kernel keeps listings across opens (FOPEN_CACHE_DIR) and, when it drops its
 * copy midway, asks any handle to go on after a cookie another handle sent.
 */

/** Where push() encodes a name before appending it. */
let nameScratch = Buffer.allocUnsafe(1024);

export class DirListing {
  private records: Buffer;
  /** The same bytes as 32-bit words: every record starts 8-aligned. */
  private words: Uint32Array;
  /** End of record k in `records`; record k starts where record k-1 ends. */
  private ends: Uint32Array;
  private count = 0;
  private used = 0;

  /** `expectedBytes`: room for the records, when the caller knows it (32 bytes an entry otherwise). */
  constructor(expectedEntries = 16, expectedBytes = 0) {
    const n = Math.max(1, expectedEntries);
    // Its own ArrayBuffer (not a slice of Node's pool), so that the word view is aligned.
    this.records = Buffer.allocUnsafeSlow(Math.max(n * 32, expectedBytes));
    this.words = new Uint32Array(this.records.buffer, 0, this.records.length >> 2);
    this.ends = new Uint32Array(n);
  }

  /** The listings one after another, as one: for a directory read in pieces. */
  static join(pieces: readonly DirListing[]): DirListing {
    let bytes = 0;
    let count = 0;
    for (const p of pieces) {
      bytes += p.used;
      count += p.count;
    }
    const all = new DirListing(count, bytes);
    for (const p of pieces) {
      p.records.copy(all.records, all.used, 0, p.used);
      for (let k = 0; k < p.count; k++) all.ends[all.count + k] = all.used + p.ends[k];
      all.count += p.count;
      all.used += p.used;
    }
    return all;
  }

  /** Empties the listing and keeps its room, for a loop that lists again and again. */
  clear(): void {
    this.count = 0;
    this.used = 0;
  }

  get length(): number {
    return this.count;
  }

  /**
   * Appends an entry whose name is `src[start, end)`, inode number `inoLow + inoHigh * 2^32` and
   * cookie `offLow + offHigh * 2^32` (the halves as the kernel wrote them, so no 64-bit number passes
   * through a double), `dtype` a DT_* value. One method with no calls on its common path: a listing
   * runs rarely, so often as unoptimised code, where every call costs.
   */
  pushRecord(
    src: Uint8Array,
    start: number,
    end: number,
    inoLow: number,
    inoHigh: number,
    offLow: number,
    offHigh: number,
    dtype: number,
  ): void {
    const nameBytes = end - start;
    const at = this.used;
    const recordEnd = (at + DIRENT_SIZE + nameBytes + 7) & ~7;
    if (recordEnd > this.records.length || this.count === this.ends.length) this.grow(recordEnd);
    const w = this.words;
    const i = at >> 2;
    const k = this.count++;
    w[i] = inoLow;
    w[i + 1] = inoHigh;
    w[i + 2] = offLow;
    w[i + 3] = offHigh;
    w[i + 4] = nameBytes;
    w[i + 5] = dtype;
    const records = this.records;
    let p = at + DIRENT_SIZE;
    // Names are short: a loop beats a native copy call.
    for (let q = start; q < end; q++) records[p++] = src[q];
    while (p < recordEnd) records[p++] = 0;
    this.ends[k] = recordEnd;
    this.used = recordEnd;
  }

  /** Appends an entry; `type` is S_IF* bits as in st_mode. */
  push(name: string, ino: number, type: number, cookie: number): void {
    // A UTF-16 unit is at most 3 bytes (an escaped byte 1): room without counting them first.
    if (name.length * 3 > nameScratch.length) nameScratch = Buffer.allocUnsafe(name.length * 3);
    const nameBytes = writeName(name, nameScratch, 0);
    const dtype = (type & S_IFMT) >>> 12;
    this.pushRecord(nameScratch, 0, nameBytes, ino % TWO_32, Math.floor(ino / TWO_32), cookie % TWO_32, Math.floor(cookie / TWO_32), dtype);
  }

  /** Room for one more record ending at `recordEnd`. */
  private grow(recordEnd: number): void {
    if (this.count === this.ends.length) {
      const bigger = new Uint32Array(this.count * 2);
      bigger.set(this.ends);
      this.ends = bigger;
    }
    if (recordEnd > this.records.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(this.records.length * 2, recordEnd));
      this.records.copy(bigger, 0, 0, this.used);
      this.records = bigger;
      this.words = new Uint32Array(bigger.buffer, 0, bigger.length >> 2);
    }
  }

  /** Where record k starts in `bytes`. */
  start(k: number): number {
    return k === 0 ? 0 : this.ends[k - 1];
  }

  /** The records, k after k; entry k occupies bytes [start(k), start(k + 1)). */
  get bytes(): Buffer {
    return this.records;
  }

  /** The same records as 32-bit words (each record starts 8-aligned): for copying them a word at a time. */
  get recordWords(): Uint32Array {
    return this.words;
  }

  /** The end (exclusive) of the longest run of whole records from k that fits in `room` bytes. */
  fitting(k: number, room: number): number {
    const limit = this.start(k) + room;
    let lo = k;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.ends[mid - 1] <= limit) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /**
   * The index of the entry after the one whose cookie is `cookie`, or -1 if no entry has it. Looks
   * back from `near` first: a reader that resumes inside the page it was sent last (its buffer
   * filled midway) names a cookie just before it.
   */
  indexAfter(cookie: bigint, near: number): number {
    const low = Number(cookie & 0xffffffffn);
    const high = Number(cookie >> 32n);
    const w = this.words;
    const matches = (k: number): boolean => {
      const i = this.start(k) >> 2;
      return w[i + 2] === low && w[i + 3] === high;
    };
    for (let k = Math.min(near, this.count) - 1; k >= 0; k--) if (matches(k)) return k + 1;
    for (let k = Math.max(near, 0); k < this.count; k++) if (matches(k)) return k + 1;
    return -1;
  }

  /** Entry k's cookie. */
  cookie(k: number): bigint {
    return this.records.readBigUInt64LE(this.start(k) + 8);
  }

  /** Entry k is '.' or '..'. */
  isDot(k: number): boolean {
    const at = this.start(k) + DIRENT_SIZE;
    const n = this.nameBytes(k);
    const r = this.records;
    return r[at] === 46 && (n === 1 || (n === 2 && r[at + 1] === 46));
  }

  nameBytes(k: number): number {
    return this.words[(this.start(k) >> 2) + 4];
  }

  name(k: number): string {
    const at = this.start(k) + DIRENT_SIZE;
    return decodeName(this.records, at, at + this.nameBytes(k));
  }

  /** Copies name k into `dst` at `at`. */
  copyName(k: number, dst: Uint8Array, at: number): void {
    const records = this.records;
    const from = this.start(k) + DIRENT_SIZE;
    const end = from + this.nameBytes(k);
    for (let p = from; p < end; p++) dst[at++] = records[p];
  }

  ino(k: number): number {
    const i = this.start(k) >> 2;
    return this.words[i] + this.words[i + 1] * TWO_32;
  }

  /** File type bits as in st_mode (S_IFREG, S_IFDIR, ...). */
  type(k: number): number {
    return this.words[(this.start(k) >> 2) + 5] << 12;
  }

  /** The entries as objects: for tests and tools, not for the request path. */
  toArray(): DirEntry[] {
    const out: DirEntry[] = [];
    for (let k = 0; k < this.count; k++) out.push({ name: this.name(k), ino: this.ino(k), type: this.type(k) });
    return out;
  }
}

/**
 * The `i`th name of a listing made up to run the listing code before a real one does: '.' and '..',
 * then names padded to 2 to `lengths` + 1 characters (more where the number needs them), so that
 * records of every padding are seen.
 */
export function madeUpName(i: number, lengths: number): string {
  return i === 0 ? '.' : i === 1 ? '..' : `w${i}`.padEnd(2 + (i % lengths), 'x');
}
