// A listing holds the fuse_dirent records READDIR sends, each carrying the
// cookie its maker gave; a READDIR page is the longest run of whole records
// that fits, and a cookie finds the entry after it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DirListing, FIRST_ENTRY_COOKIE } from '../../src/vfs/dir-listing.ts';
import { DirEntries } from '../../src/vfs/dir-entries.ts';

const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const ENTRIES = [
  { name: 'a', ino: 2 ** 34 + 1, type: S_IFDIR },
  { name: 'é☃', ino: 7, type: S_IFREG }, // 5 UTF-8 bytes
  { name: 'exactly8', ino: 9, type: 0o120000 },
  { name: 'x'.repeat(255), ino: 2 ** 52, type: S_IFREG },
];

test('records from names as strings or as bytes are the same fuse_dirent bytes', () => {
  const fromStrings = DirListing.of(ENTRIES);
  const fromBytes = new DirListing(1); // grows as it goes
  ENTRIES.forEach((e, k) => {
    const b = Buffer.concat([Buffer.from('pad'), Buffer.from(e.name)]);
    const cookie = FIRST_ENTRY_COOKIE + k;
    fromBytes.pushRecord(b, 3, b.length, e.ino % 2 ** 32, Math.floor(e.ino / 2 ** 32), cookie, 0, e.type >>> 12);
  });
  for (const l of [fromStrings, fromBytes]) {
    assert.deepEqual(l.toArray(), ENTRIES);
    const b = l.bytes;
    assert.equal(b.readBigUInt64LE(0), 2n ** 34n + 1n, 'ino');
    assert.equal(b.readBigUInt64LE(8), BigInt(FIRST_ENTRY_COOKIE), 'off: the cookie');
    assert.equal(b.readUInt32LE(16), 1, 'namelen');
    assert.equal(b.readUInt32LE(20), 4, 'type: DT_DIR');
    assert.equal(b.toString('utf8', 24, 25), 'a');
    assert.ok(
      b.subarray(25, 32).every((x) => x === 0),
      'padding',
    );
    assert.equal(b.readUInt32LE(32 + 16), 5, 'namelen counts bytes');
    assert.equal(l.start(4), 32 + 32 + 32 + 280);
  }
  assert.deepEqual(fromStrings.bytes.subarray(0, 376), fromBytes.bytes.subarray(0, 376));
});

test('an inode number and a cookie above 2^53 reach the record exactly, from their two halves', () => {
  const l = new DirListing(1);
  const name = Buffer.from('big');
  l.pushRecord(name, 0, name.length, 0xfffffffe, 0xffffffff, 0xffffffff, 0x7fffffff, 8);
  assert.equal(l.bytes.readBigUInt64LE(0), 0xfffffffffffffffen);
  assert.equal(l.cookie(0), 0x7fffffffffffffffn);
  assert.equal(l.indexAfter(0x7fffffffffffffffn, 0), 1);
  assert.equal(l.indexAfter(0x7ffffffffffffffen, 0), -1, 'a cookie one below does not match');
  assert.equal(l.name(0), 'big');
});

test('fitting() takes whole records only', () => {
  const l = DirListing.of(ENTRIES); // records of 32, 32, 32 and 280 bytes
  assert.equal(l.fitting(0, 31), 0);
  assert.equal(l.fitting(0, 32), 1);
  assert.equal(l.fitting(0, 95), 2);
  assert.equal(l.fitting(0, 96), 3);
  assert.equal(l.fitting(1, 64 + 279), 3);
  assert.equal(l.fitting(1, 64 + 280), 4);
  assert.equal(l.fitting(3, 10_000), 4);
});

test('indexAfter() finds the entry after a cookie, whichever side of the hint it is', () => {
  const l = DirListing.of(ENTRIES);
  for (let near = 0; near <= ENTRIES.length; near++) {
    ENTRIES.forEach((_, k) => assert.equal(l.indexAfter(BigInt(FIRST_ENTRY_COOKIE + k), near), k + 1));
    assert.equal(l.indexAfter(1n, near), -1);
  }
});

test('an in-memory directory: dots at 1 and 2, entries at cookies that survive removals and replacements', () => {
  const kids = new DirEntries<number>();
  for (const name of ['a', 'b', 'c', 'd']) kids.set(name, 1);
  kids.delete('b');
  kids.set('c', 2); // replaced in place: keeps its cookie
  kids.set('b', 3); // back again: a new cookie, after the others
  const list = (from: bigint): string[] => {
    const l = new DirListing();
    l.pushDots(from, 1, 1);
    for (const [name, v] of kids) if (kids.cookieOf(name) > from) l.push(name, v, S_IFREG, kids.cookieOf(name));
    return l.toArray().map((e) => e.name);
  };
  assert.deepEqual(list(0n), ['.', '..', 'a', 'c', 'd', 'b']);
  assert.deepEqual(list(1n), ['..', 'a', 'c', 'd', 'b']);
  const afterA = BigInt(kids.cookieOf('a'));
  kids.delete('a');
  assert.deepEqual(list(afterA), ['c', 'd', 'b'], 'resuming after a removed entry skips none of the rest');
  const l = new DirListing();
  l.pushDots(0n, 1, 1);
  l.push('.x', 2, S_IFREG, 3);
  assert.deepEqual(
    [0, 1, 2].map((k) => l.isDot(k)),
    [true, true, false],
  );
});
