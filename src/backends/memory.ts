// The RAM backend: the shared tree, with file contents in 64 KiB chunks kept in
// a Map by chunk index, so sparse files cost only what was written.
//
// Space accounting, checked against sizeBytes on every allocation:
//  - file data: the bytes of allocated chunk buffers. A chunk starts at its
//    64 KiB boundary and is sized in 4 KiB pages, so a small file costs 4 KiB,
//    not 64. Buffers grow by doubling to keep appends linear; the slack this
//    leaves in the chunk holding EOF is trimmed when the last handle closes
//    (taking a KEEP_SIZE preallocation inside that same chunk with it).
//  - metadata: xattr names and values, symlink targets.
//  - inodes cost nothing here; their number is capped by maxInodes instead.
// Bytes past EOF inside a chunk are always zero (truncate and punch clear them),
// so extending a file never exposes old data.
import { FsError, ENOSPC, ENXIO } from '../vfs/errors.ts';
import { createTreeFs, SEEK_DATA } from './tree-fs.ts';
import type { DataStore, SyncVfs } from './tree-fs.ts';
import type { Inode, TreeOptions } from './tree.ts';

const CHUNK = 64 * 1024;
const PAGE = 4096;

export interface MemoryFsOptions extends TreeOptions {
  /** The cap on data and metadata bytes; statfs reports it as the capacity. */
  sizeBytes: number;
}

export function createMemoryFs(options: MemoryFsOptions): SyncVfs {
  if (!Number.isSafeInteger(options.sizeBytes) || options.sizeBytes < 0) {
    throw new RangeError(`memory backend: sizeBytes must be a non-negative integer, got ${options.sizeBytes}`);
  }
  return createTreeFs(new ChunkStore(options.sizeBytes), options);
}

class Chunks {
  readonly map = new Map<number, Buffer>();
  bytes = 0;
  /** Some chunk was grown past the bytes written to it. */
  slack = false;
}

type Node = Inode<Chunks>;

function pageUp(n: number): number {
  return Math.ceil(n / PAGE) * PAGE;
}

class ChunkStore implements DataStore<Chunks> {
  private readonly cap: number;
  private used = 0;
  /** A chunk is data from its start: a hole shorter than a chunk before data reads as data. */
  readonly blockSize = CHUNK;

  constructor(cap: number) {
    this.cap = cap;
  }

  init(node: Node): void {
    node.data = new Chunks();
  }

  free(node: Node): void {
    const file = node.data!;
    this.used -= file.bytes;
    file.bytes = 0;
    file.map.clear();
  }

  blocks(node: Node): number {
    return node.data!.bytes / 512;
  }

  charge(bytes: number): void {
    if (this.used + bytes > this.cap) throw new FsError(ENOSPC);
    this.used += bytes;
  }

  refund(bytes: number): void {
    this.used -= bytes;
  }

  space(): { blocks: number; bfree: number } {
    return { blocks: Math.floor(this.cap / PAGE), bfree: Math.floor((this.cap - this.used) / PAGE) };
  }

  read(node: Node, into: Buffer, offset: number): number {
    const end = Math.min(node.size, offset + into.length);
    if (offset >= end) return 0;
    const map = node.data!.map;
    for (let pos = offset; pos < end;) {
      const ci = Math.floor(pos / CHUNK);
      const within = pos - ci * CHUNK;
      const n = Math.min(CHUNK - within, end - pos);
      const at = pos - offset;
      const chunk = map.get(ci);
      let copied = 0;
      if (chunk !== undefined && within < chunk.length) {
        copied = chunk.copy(into, at, within, Math.min(chunk.length, within + n));
      }
      if (copied < n) into.fill(0, at + copied, at + n);
      pos += n;
    }
    return end - offset;
  }

  write(node: Node, data: Buffer, offset: number): number {
    const done = this.put(node, data, offset);
    if (done === 0) throw new FsError(ENOSPC);
    return done;
  }

  truncate(node: Node, size: number): void {
    if (size < node.size) this.zero(node.data!, size, Infinity);
    node.size = size;
  }

  allocate(node: Node, offset: number, length: number, keepSize: boolean): void {
    const file = node.data!;
    const end = offset + length;
    const first = Math.floor(offset / CHUNK);
    const last = Math.floor((end - 1) / CHUNK);
    // All or nothing, like posix_fallocate on a full disk. The loop ends within
    // (free space / 64 KiB) missing chunks, so a huge range fails fast.
    const free = this.cap - this.used;
    let need = 0;
    for (let ci = first; ci <= last; ci++) {
      need += Math.max(0, this.extent(ci, last, end) - (file.map.get(ci)?.length ?? 0));
      if (need > free) throw new FsError(ENOSPC);
    }
    for (let ci = first; ci <= last; ci++) {
      const chunk = file.map.get(ci);
      const want = this.extent(ci, last, end);
      if (chunk === undefined || chunk.length < want) this.resize(file, ci, chunk, want);
    }
    if (!keepSize && end > node.size) node.size = end;
  }

  punch(node: Node, offset: number, length: number): void {
    this.zero(node.data!, offset, offset + length);
  }

  seek(node: Node, offset: number, whence: number): number {
    const map = node.data!.map;
    if (whence === SEEK_DATA) {
      let best = Infinity;
      for (const [ci, chunk] of map) {
        const start = ci * CHUNK;
        if (start + chunk.length > offset && start < best) best = Math.max(start, offset);
      }
      if (best >= node.size) throw new FsError(ENXIO);
      return best;
    }
    for (let pos = offset; ;) {
      const ci = Math.floor(pos / CHUNK);
      const dataEnd = ci * CHUNK + (map.get(ci)?.length ?? 0);
      if (pos >= dataEnd) return pos;
      pos = dataEnd;
      // Linux reports a hole at EOF even when the last byte is data.
      if (pos >= node.size) return node.size;
    }
  }

  copy(src: Node, srcOffset: number, dst: Node, dstOffset: number, length: number): number {
    const map = src.data!.map;
    let done = 0;
    while (done < length) {
      const pos = srcOffset + done;
      const ci = Math.floor(pos / CHUNK);
      const within = pos - ci * CHUNK;
      const n = Math.min(CHUNK - within, length - done);
      const chunk = map.get(ci);
      const data = chunk === undefined ? 0 : Math.max(0, Math.min(n, chunk.length - within));
      if (data > 0) {
        // A view, not a copy: put() copies straight from the source chunk.
        const wrote = this.put(dst, chunk!.subarray(within, within + data), dstOffset + done);
        done += wrote;
        if (wrote < data) break;
      }
      if (n > data) {
        // Holes stay holes in the copy.
        const from = dstOffset + done;
        this.zero(dst.data!, from, from + n - data);
        done += n - data;
        if (from + n - data > dst.size) dst.size = from + n - data;
      }
    }
    if (done === 0) throw new FsError(ENOSPC);
    return done;
  }

  settle(node: Node): void {
    const file = node.data!;
    if (!file.slack || node.size === 0) return;
    file.slack = false;
    const ci = Math.floor((node.size - 1) / CHUNK);
    const chunk = file.map.get(ci);
    const keep = pageUp(node.size - ci * CHUNK);
    if (chunk !== undefined && chunk.length > keep) this.resize(file, ci, chunk, keep);
  }

  /** Writes what fits of `data` at `offset`; the byte count, 0 when nothing fits. */
  private put(node: Node, data: Buffer, offset: number): number {
    const file = node.data!;
    const len = data.length;
    let done = 0;
    while (done < len) {
      const pos = offset + done;
      const ci = Math.floor(pos / CHUNK);
      const within = pos - ci * CHUNK;
      const n = Math.min(CHUNK - within, len - done);
      let chunk = file.map.get(ci);
      if (chunk === undefined || chunk.length < within + n) {
        chunk = this.grow(file, ci, chunk, within + n);
        const room = (chunk === undefined ? 0 : chunk.length) - within;
        if (room < n) {
          // Out of space: a short write, as a full disk gives.
          if (room > 0) done += data.copy(chunk!, within, done, done + room);
          break;
        }
      }
      data.copy(chunk!, within, done, done + n);
      done += n;
    }
    if (offset + done > node.size) node.size = offset + done;
    return done;
  }

  /** Makes chunk `ci` hold at least `need` bytes if space allows, doubling to amortise appends. */
  private grow(file: Chunks, ci: number, chunk: Buffer | undefined, need: number): Buffer | undefined {
    const cur = chunk === undefined ? 0 : chunk.length;
    const exact = pageUp(need);
    let want = Math.min(CHUNK, Math.max(exact, cur * 2));
    const room = this.cap - this.used + cur;
    // Near the cap, give up the doubling first, then take what is left.
    if (want > room) want = Math.min(exact, room - (room % PAGE));
    if (want <= cur) return chunk;
    if (want > exact) file.slack = true;
    return this.resize(file, ci, chunk, want);
  }

  /** Replaces chunk `ci` by one of `len` bytes (none if 0), keeping its contents, and books the difference. */
  private resize(file: Chunks, ci: number, chunk: Buffer | undefined, len: number): Buffer | undefined {
    const cur = chunk === undefined ? 0 : chunk.length;
    let next: Buffer | undefined;
    if (len === 0) {
      file.map.delete(ci);
    } else {
      // Growing needs zeros past the old end; shrinking overwrites every byte.
      // Never from Node's shared pool: a chunk must own its memory.
      next = len > cur ? Buffer.alloc(len) : Buffer.allocUnsafeSlow(len);
      if (chunk !== undefined) chunk.copy(next, 0, 0, Math.min(cur, len));
      file.map.set(ci, next);
    }
    this.used += len - cur;
    file.bytes += len - cur;
    return next;
  }

  /** Clears [start, end): whole chunks are freed, a chunk's tail is cut off, a middle is zeroed. */
  private zero(file: Chunks, start: number, end: number): void {
    for (const [ci, chunk] of file.map) {
      const base = ci * CHUNK;
      const a = Math.max(start, base) - base;
      const b = Math.min(end, base + chunk.length) - base;
      if (a >= b) continue;
      if (b < chunk.length) {
        chunk.fill(0, a, b);
      } else {
        const keep = pageUp(a);
        const kept = keep === chunk.length ? chunk : this.resize(file, ci, chunk, keep);
        kept?.fill(0, a);
      }
    }
  }

  /** How many bytes of chunk `ci` a preallocation up to `end` covers. */
  private extent(ci: number, last: number, end: number): number {
    return ci === last ? pageUp(end - ci * CHUNK) : CHUNK;
  }
}
