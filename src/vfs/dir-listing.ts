// A directory listing packed into flat arrays, names as UTF-8 bytes in one
// buffer. Paging through it with READDIR copies those bytes straight into the
// reply; a name becomes a string only when something asks for it (READDIRPLUS
// looks its entries up by name). A listing of 10,000 entries is four
// allocations instead of 10,000 strings and objects.
import type { DirEntry } from './types.ts';

const S_IFMT = 0o170000;

export class DirListing {
  private names: Buffer;
  /** End of name i in `names`; name i starts where name i-1 ends. */
  private ends: Uint32Array;
  private inos: Float64Array;
  /** DT_* values: the S_IF* type bits shifted down by 12. */
  private types: Uint8Array;
  private count = 0;
  private used = 0;

  constructor(expectedEntries = 16) {
    const n = Math.max(1, expectedEntries);
    this.names = Buffer.allocUnsafe(n * 16);
    this.ends = new Uint32Array(n);
    this.inos = new Float64Array(n);
    this.types = new Uint8Array(n);
  }

  static of(entries: Iterable<DirEntry>): DirListing {
    const l = new DirListing();
    for (const e of entries) l.push(e.name, e.ino, e.type);
    return l;
  }

  get length(): number {
    return this.count;
  }

  /** Appends an entry whose name is `src[start, end)`; `dtype` is a DT_* value. */
  pushBytes(src: Uint8Array, start: number, end: number, ino: number, dtype: number): void {
    const len = end - start;
    const at = this.reserve(len);
    const names = this.names;
    // Names are short: a loop beats a native copy call.
    for (let k = 0; k < len; k++) names[at + k] = src[start + k];
    this.commit(at + len, ino, dtype);
  }

  /** Appends an entry; `type` is S_IF* bits as in st_mode. */
  push(name: string, ino: number, type: number): void {
    const len = Buffer.byteLength(name);
    const at = this.reserve(len);
    this.names.write(name, at, len, 'utf8');
    this.commit(at + len, ino, (type & S_IFMT) >>> 12);
  }

  private reserve(nameBytes: number): number {
    if (this.count === this.ends.length) {
      const cap = this.count * 2;
      this.ends = grow(this.ends, new Uint32Array(cap));
      this.inos = grow(this.inos, new Float64Array(cap));
      this.types = grow(this.types, new Uint8Array(cap));
    }
    if (this.used + nameBytes > this.names.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.names.length * 2, this.used + nameBytes));
      this.names.copy(bigger, 0, 0, this.used);
      this.names = bigger;
    }
    return this.used;
  }

  private commit(end: number, ino: number, dtype: number): void {
    const i = this.count++;
    this.ends[i] = end;
    this.inos[i] = ino;
    this.types[i] = dtype;
    this.used = end;
  }

  private start(i: number): number {
    return i === 0 ? 0 : this.ends[i - 1];
  }

  nameBytes(i: number): number {
    return this.ends[i] - this.start(i);
  }

  name(i: number): string {
    return this.names.toString('utf8', this.start(i), this.ends[i]);
  }

  /** Copies name i into `dst` at `at`. */
  copyName(i: number, dst: Uint8Array, at: number): void {
    const names = this.names;
    const end = this.ends[i];
    for (let p = this.start(i); p < end; p++) dst[at++] = names[p];
  }

  ino(i: number): number {
    return this.inos[i];
  }

  /** File type bits as in st_mode (S_IFREG, S_IFDIR, ...). */
  type(i: number): number {
    return this.types[i] << 12;
  }

  /** The entries as objects: for tests and tools, not for the request path. */
  toArray(): DirEntry[] {
    const out: DirEntry[] = [];
    for (let i = 0; i < this.count; i++) out.push({ name: this.name(i), ino: this.inos[i], type: this.type(i) });
    return out;
  }
}

function grow<T extends Uint32Array | Float64Array | Uint8Array>(old: T, into: T): T {
  into.set(old);
  return into;
}
