// A directory held in memory: its entries by name, each with the cookie a
// READDIR resumes after. Cookies grow with insertion and are never reused, and
// a name keeps its cookie while it exists (replacing its inode keeps its place
// in the Map too), so Map order is cookie order and a reader resuming after a
// removed entry neither skips nor repeats the others, as on a disk filesystem.
import { DirListing } from './dir-listing.ts';
import { S_IFDIR } from './mode.ts';

/** '.' and '..' are cookies 1 and 2; entries count on from here. */
const FIRST_ENTRY_COOKIE = 3;

export class DirEntries<V extends { readonly ino: number; readonly mode: number }> extends Map<string, V> {
  private readonly cookies = new Map<string, number>();
  private nextCookie = FIRST_ENTRY_COOKIE;

  override set(name: string, value: V): this {
    if (!this.cookies.has(name)) this.cookies.set(name, this.nextCookie++);
    return super.set(name, value);
  }

  override delete(name: string): boolean {
    this.cookies.delete(name);
    return super.delete(name);
  }

  override clear(): void {
    this.cookies.clear();
    super.clear();
  }

  /** What READDIR sends from after cookie `from` (0: all): '.' and '..', then the entries in cookie order. */
  list(from: bigint, selfIno: number, parentIno: number): DirListing {
    const out = new DirListing(this.size + 2);
    if (from < 1n) out.push('.', selfIno, S_IFDIR, 1);
    if (from < 2n) out.push('..', parentIno, S_IFDIR, 2);
    for (const [name, v] of this) {
      const cookie = this.cookies.get(name)!;
      if (cookie > from) out.push(name, v.ino, v.mode, cookie);
    }
    return out;
  }
}
