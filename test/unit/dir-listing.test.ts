// A listing holds the fuse_dirent records READDIR sends, each carrying the
// cookie its maker gave; a READDIR page is the longest run of whole records
// that fits, and a cookie finds the entry after it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DirListing } from '../../src/vfs/dir-listing.ts';
import type { DirEntry } from '../../src/vfs/types.ts';
import { S_IFREG, S_IFDIR } from '../../src/vfs/mode.ts';

const FIRST_COOKIE = 3;
const ENTRIES = [
  { name: 'a', ino: 2 ** 34 + 1, type: S_IFDIR },
  { name: 'é☃', ino: 7, type: S_IFREG }, // 5 UTF-8 bytes
  { name: 'exactly8', ino: 9, type: 0o120000 },
  { name: 'x'.repeat(255), ino: 2 ** 52, type: S_IFREG },
];

/** `entries` with cookies FIRST_COOKIE, FIRST_COOKIE + 1, ... */
function listingOf(entries: DirEntry[]): DirListing {
  const l = new DirListing();
  entries.forEach((e, k) => l.push(e.name, e.ino, e.type, FIRST_COOKIE + k));
  return l;
}

test('records from names as strings or as bytes are the same fuse_dirent bytes', () => {
  const fromStrings = listingOf(ENTRIES);
  const fromBytes = new DirListing(1); // grows as it goes
  ENTRIES.forEach((e, k) => {
    const b = Buffer.concat([Buffer.from('pad'), Buffer.from(e.name)]);
    const cookie = FIRST_COOKIE + k;
    fromBytes.pushRecord(b, 3, b.length, e.ino % 2 ** 32, Math.floor(e.ino / 2 ** 32), cookie, 0, e.type >>> 12);
  });
  for (const l of [fromStrings, fromBytes]) {
    assert.deepEqual(l.toArray(), ENTRIES);
    const b = l.bytes;
    assert.equal(b.readBigUInt64LE(0), 2n ** 34n + 1n, 'ino');
    assert.equal(b.readBigUInt64LE(8), BigInt(FIRST_COOKIE), 'off: the cookie');
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
  const l = listingOf(ENTRIES); // records of 32, 32, 32 and 280 bytes
  assert.equal(l.fitting(0, 31), 0);
  assert.equal(l.fitting(0, 32), 1);
  assert.equal(l.fitting(0, 95), 2);
  assert.equal(l.fitting(0, 96), 3);
  assert.equal(l.fitting(1, 64 + 279), 3);
  assert.equal(l.fitting(1, 64 + 280), 4);
  assert.equal(l.fitting(3, 10_000), 4);
});

test('indexAfter() finds the entry after a cookie, whichever side of the hint it is', () => {
  const l = listingOf(ENTRIES);
  for (let near = 0; near <= ENTRIES.length; near++) {
    ENTRIES.forEach((_, k) => assert.equal(l.indexAfter(BigInt(FIRST_COOKIE + k), near), k + 1));
    assert.equal(l.indexAfter(1n, near), -1);
  }
});

test("isDot() knows '.' and '..' from names that start with a dot", () => {
  const l = new DirListing();
  for (const [k, name] of ['.', '..', '.x', '..x'].entries()) l.push(name, 1, S_IFDIR, k + 1);
  assert.deepEqual(
    [0, 1, 2, 3].map((k) => l.isDot(k)),
    [true, true, false, false],
  );
});

test('join() makes one listing of several, records and cookies as they were, in order', () => {
  const whole = listingOf(ENTRIES);
  // Pieces with the cookies the whole listing has: each is a stretch of one directory; the first is empty.
  const joined = DirListing.join([
    new DirListing(),
    ...[0, 1, 3].map((first, i) => {
      const p = new DirListing(1);
      ENTRIES.slice(first, [1, 3, 4][i]).forEach((e, j) => p.push(e.name, e.ino, e.type, FIRST_COOKIE + first + j));
      return p;
    }),
  ]);
  assert.equal(joined.length, ENTRIES.length);
  assert.deepEqual(joined.toArray(), ENTRIES);
  ENTRIES.forEach((_, k) => assert.equal(joined.cookie(k), whole.cookie(k)));
  const end = whole.start(ENTRIES.length);
  assert.equal(joined.start(ENTRIES.length), end);
  assert.ok(joined.bytes.subarray(0, end).equals(whole.bytes.subarray(0, end)));
  assert.equal(joined.indexAfter(BigInt(FIRST_COOKIE + 2), 0), 3);
});
