// Values under small integer ids, reused once removed: the table of open file
// handles, directory handles and nodes. A Map keyed by ever-increasing ids
// rehashes into a fresh table every few hundred inserts and deletes, and a
// daemon that opens and closes files all day made most of its old-generation
// garbage that way (bench/RESULTS.md, item 21); an array grows to the largest
// number of live entries and is then only written in place.

export class SlotTable<T> {
  /** values[id]; undefined for a free id. Id 0 is never handed out (FUSE reserves it). */
  private readonly values: (T | undefined)[] = [undefined];
  /** Free ids, most recently freed last. */
  private readonly free: number[] = [];
  private count = 0;

  /** The number of live entries. */
  get size(): number {
    return this.count;
  }

  /** The id add() hands out next. */
  nextId(): number {
    return this.free.length > 0 ? this.free[this.free.length - 1]! : this.values.length;
  }

  /** Whether `id` was handed out before (and freed since, if it is free now). */
  wasUsed(id: number): boolean {
    return id < this.values.length;
  }

  /** Stores `value` under a free id (the most recently freed, else a new one) and returns the id. */
  add(value: T): number {
    const id = this.free.length > 0 ? this.free.pop()! : this.values.length;
    this.values[id] = value;
    this.count++;
    return id;
  }

  get(id: number): T | undefined {
    return this.values[id];
  }

  /** Frees `id`; returns what it held. */
  delete(id: number): T | undefined {
    const value = this.values[id];
    if (value === undefined || id === 0) return undefined;
    this.values[id] = undefined;
    this.free.push(id);
    this.count--;
    return value;
  }

  *entries(): IterableIterator<[number, T]> {
    const values = this.values;
    for (let id = 1; id < values.length; id++) {
      const value = values[id];
      if (value !== undefined) yield [id, value];
    }
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (const [, value] of this.entries()) yield value;
  }
}
