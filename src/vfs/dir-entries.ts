// A directory held in memory: its entries by name, each with the cookie a
// READDIR resumes after. Cookies grow with insertion and are never reused, and
// a name keeps its cookie while it exists (replacing its inode keeps its place
// in the Map too), so Map order is cookie order and a reader resuming after a
// removed entry neither skips nor repeats the others, as on a disk filesystem.
import { FIRST_ENTRY_COOKIE } from './dir-listing.ts';

export class DirEntries<V> extends Map<string, V> {
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

  /** The cookie READDIR resumes after, for an entry in the Map. */
  cookieOf(name: string): number {
    return this.cookies.get(name)!;
  }
}
