// A directory held in memory lists '.' and '..' at cookies 1 and 2, then its
// entries at cookies that survive removals and replacements: a reader resuming
// after any cookie, even a removed entry's, gets exactly the entries after it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DirEntries } from '../../src/vfs/dir-entries.ts';
import { S_IFREG } from '../../src/vfs/mode.ts';

const file = (ino: number) => ({ ino, mode: S_IFREG | 0o644 });

test('an in-memory directory: dots at 1 and 2, entries at cookies that survive removals and replacements', () => {
  const kids = new DirEntries<{ ino: number; mode: number }>();
  for (const [i, name] of ['a', 'b', 'c', 'd'].entries()) kids.set(name, file(10 + i));
  kids.delete('b');
  kids.set('c', file(20)); // replaced in place: keeps its place and cookie
  kids.set('b', file(21)); // back again: a new cookie, after the others
  const names = (from: bigint): string[] =>
    kids
      .list(from, 1, 2)
      .toArray()
      .map((e) => e.name);
  const all = kids.list(0n, 1, 2);
  assert.deepEqual(
    all.toArray().map((e) => [e.name, e.ino]),
    [
      ['.', 1],
      ['..', 2],
      ['a', 10],
      ['c', 20],
      ['d', 13],
      ['b', 21],
    ],
  );
  assert.deepEqual(names(1n), ['..', 'a', 'c', 'd', 'b']);
  assert.deepEqual(names(2n), ['a', 'c', 'd', 'b']);
  const afterA = all.cookie(2);
  const afterC = all.cookie(3);
  kids.delete('a');
  assert.deepEqual(names(afterA), ['c', 'd', 'b'], 'resuming after a removed entry skips none of the rest');
  kids.delete('c');
  assert.deepEqual(names(afterA), ['d', 'b']);
  assert.deepEqual(names(afterC), ['d', 'b']);
  assert.deepEqual(names(all.cookie(5)), [], 'after the last: nothing');
  kids.clear();
  kids.set('e', file(30));
  assert.ok(kids.list(0n, 1, 2).cookie(2) > all.cookie(5), 'cookies are never handed out again');
});
