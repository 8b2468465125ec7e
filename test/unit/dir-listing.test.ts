// The packed listing's records are exactly what DirentWriter writes entry by
// entry, and a READDIR page takes the longest run of whole records that fits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DirentWriter } from '../../src/fuse/replies.ts';
import { DirListing, DOT_ENTRIES } from '../../src/vfs/dir-listing.ts';

const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const ENTRIES = [
  { name: 'a', ino: 2 ** 34 + 1, type: S_IFDIR },
  { name: 'é☃', ino: 7, type: S_IFREG }, // 5 UTF-8 bytes
  { name: 'exactly8', ino: 9, type: 0o120000 },
  { name: 'x'.repeat(255), ino: 2 ** 52, type: S_IFREG },
];

test('records match DirentWriter byte for byte, from names as strings or as bytes', () => {
  const fromStrings = DirListing.of(ENTRIES);
  const fromBytes = new DirListing(1); // grows as it goes
  for (const e of ENTRIES) {
    const b = Buffer.concat([Buffer.from('pad'), Buffer.from(e.name)]);
    fromBytes.pushRecord(b, 3, b.length, e.ino % 2 ** 32, Math.floor(e.ino / 2 ** 32), e.type >>> 12);
  }
  const expected = new DirentWriter(4096, Buffer.alloc(16 + 4096, 0xff));
  ENTRIES.forEach((e, k) => expected.add(fromStrings, k, e.ino, k + DOT_ENTRIES + 1, e.type));
  const want = expected.finish().subarray(16);
  for (const l of [fromStrings, fromBytes]) {
    assert.deepEqual(l.bytes.subarray(0, l.start(l.length)), want);
    assert.deepEqual(l.toArray(), ENTRIES);
  }
});

test('an inode number above 2^53 reaches the record exactly, from its two halves', () => {
  const l = new DirListing(1);
  const name = Buffer.from('big');
  l.pushRecord(name, 0, name.length, 0xfffffffe, 0xffffffff, 8);
  assert.equal(l.bytes.readBigUInt64LE(0), 0xfffffffffffffffen);
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

test('a READDIRPLUS record made from a listing record matches one DirentWriter encodes', () => {
  const l = DirListing.of(ENTRIES);
  const entry = (buf: Buffer, at: number): void => void buf.writeUInt32LE(0xabcdef, at + 4);
  const encoded = new DirentWriter(4096, Buffer.alloc(16 + 4096, 0xff));
  const copied = new DirentWriter(4096, Buffer.alloc(16 + 4096, 0xee));
  ENTRIES.forEach((e, k) => {
    assert.ok(copied.fits(l.nameBytes(k), true));
    encoded.add(l, k, e.ino, k + DOT_ENTRIES + 1, e.type, entry);
    copied.addPlusRecord(entry, l.bytes, l.start(k), l.start(k + 1));
  });
  assert.deepEqual(copied.finish().subarray(16), encoded.finish().subarray(16));
});
