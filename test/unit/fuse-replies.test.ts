// Byte-exact encoding of replies. Offsets are those of include/uapi/linux/fuse.h
// (7.45); every encoder leaves 16 bytes at the start for fuse_out_header, which
// the session fills, so payload offsets below are relative to H.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  attrOut,
  bytesOut,
  copyFileRange64Out,
  createOut,
  DirentWriter,
  entryOut,
  getxattrSizeOut,
  initOut,
  lseekOut,
  openOut,
  replyBuffer,
  replyBufferUnsafe,
  ReplyPool,
  statfsOut,
  writeAttr,
  writeEntryOut,
  writeOut,
} from '../../src/fuse/replies.ts';
import type { Attr, StatFs } from '../../src/vfs/types.ts';
import { DirListing } from '../../src/vfs/dir-listing.ts';

const H = 16;
const GiB = 2 ** 30;

const u32 = (b: Buffer, at: number): number => b.readUInt32LE(at);
const i32 = (b: Buffer, at: number): number => b.readInt32LE(at);
const u16 = (b: Buffer, at: number): number => b.readUInt16LE(at);
const u64 = (b: Buffer, at: number): bigint => b.readBigUInt64LE(at);
const s64 = (b: Buffer, at: number): bigint => b.readBigInt64LE(at);

const attr: Attr = {
  ino: 2 ** 40 + 17,
  size: 5 * GiB + 3,
  blocks: 2 ** 33,
  atimeMs: 1_700_000_000_250, // .25 s: exactly representable, so nsec is exact
  mtimeMs: 1500.5, // 1 s 500.5 ms
  ctimeMs: -1500, // before the epoch: sec -2, nsec 500 ms
  mode: 0o100644,
  nlink: 3,
  uid: 1000,
  gid: 2 ** 32 - 2,
  rdev: 0x0801,
  blksize: 4096,
};

/** Every field of struct fuse_attr (88 bytes) at `at` as `attr` above encodes it. */
function checkAttr(b: Buffer, at: number): void {
  assert.equal(u64(b, at + 0), 2n ** 40n + 17n, 'ino');
  assert.equal(u64(b, at + 8), 5n * 2n ** 30n + 3n, 'size');
  assert.equal(u64(b, at + 16), 2n ** 33n, 'blocks');
  assert.equal(s64(b, at + 24), 1_700_000_000n, 'atime');
  assert.equal(s64(b, at + 32), 1n, 'mtime');
  assert.equal(s64(b, at + 40), -2n, 'ctime (signed on the kernel side)');
  assert.equal(u32(b, at + 48), 250_000_000, 'atimensec');
  assert.equal(u32(b, at + 52), 500_500_000, 'mtimensec');
  assert.equal(u32(b, at + 56), 500_000_000, 'ctimensec');
  assert.equal(u32(b, at + 60), 0o100644, 'mode');
  assert.equal(u32(b, at + 64), 3, 'nlink');
  assert.equal(u32(b, at + 68), 1000, 'uid');
  assert.equal(u32(b, at + 72), 2 ** 32 - 2, 'gid');
  assert.equal(u32(b, at + 76), 0x0801, 'rdev');
  assert.equal(u32(b, at + 80), 4096, 'blksize');
  assert.equal(u32(b, at + 84), 0, 'flags');
}

/** A reply built zeroed: the out-header room is left zero for the session. */
function checkHeaderRoom(b: Buffer): void {
  assert.deepEqual([...b.subarray(0, H)], new Array(H).fill(0), 'out-header room is left zeroed');
}

/** A reply that writes its payload whole and skips the zeroing: the header room is there (its bytes are the session's). */
function checkHeaderRoomUnzeroed(b: Buffer): void {
  assert.ok(b.length >= H, 'room for the out header');
}

/** `make()`'s reply, carved from Node's shared slab for small buffers after every byte of it was set to `byte`. */
function madeOnSoiledSlab(make: () => Buffer, byte: number): Buffer {
  for (;;) {
    const probe = Buffer.allocUnsafe(1);
    new Uint8Array(probe.buffer).fill(byte);
    const b = make();
    // A reply that did not fit the slab's rest came from a fresh one: soil that and try again.
    if (b.buffer === probe.buffer) return b;
  }
}

test('replyBuffer: zeroed header room plus the payload', () => {
  const b = replyBuffer(8);
  assert.equal(b.length, H + 8);
  assert.ok(b.every((x) => x === 0));
});

test('writeAttr: struct fuse_attr, 88 bytes, at any offset, nothing written outside', () => {
  const b = Buffer.alloc(8 + 88 + 8, 0xaa);
  writeAttr(b, attr, 8);
  checkAttr(b, 8);
  assert.ok(
    b.subarray(0, 8).every((x) => x === 0xaa),
    'bytes before untouched',
  );
  assert.ok(
    b.subarray(96).every((x) => x === 0xaa),
    'bytes after untouched',
  );
});

test('writeAttr: a fraction of a nanosecond never rounds nsec up to 1e9', () => {
  const b = Buffer.alloc(88);
  writeAttr(b, { ...attr, atimeMs: 1999.9999999999 }, 0);
  const nsec = u32(b, 48);
  assert.ok(nsec <= 999_999_999, `nsec ${nsec}`);
});

test('writeAttr: times far from the epoch never make nsec negative', () => {
  // utimensat accepts any time64 on a FUSE mount, and a backend that keeps the
  // time in ms gives it back; at this magnitude sec * 1000 rounds above ms.
  const b = Buffer.alloc(88);
  writeAttr(b, { ...attr, atimeMs: 4_580_846_255_609_856_500 }, 0);
  assert.equal(s64(b, 24), 4_580_846_255_609_857n, 'atime');
  assert.equal(u32(b, 48), 0, 'atimensec clamped, not thrown');
});

test('entryOut: struct fuse_entry_out, 128 bytes', () => {
  const b = entryOut(2 ** 35 + 1, 6, attr, 1500, 250.5);
  assert.equal(b.length, H + 128);
  checkHeaderRoomUnzeroed(b);
  assert.equal(u64(b, H + 0), 2n ** 35n + 1n, 'nodeid');
  assert.equal(u64(b, H + 8), 6n, 'generation');
  assert.equal(u64(b, H + 16), 1n, 'entry_valid');
  assert.equal(u64(b, H + 24), 0n, 'attr_valid');
  assert.equal(u32(b, H + 32), 500_000_000, 'entry_valid_nsec');
  assert.equal(u32(b, H + 36), 250_500_000, 'attr_valid_nsec');
  checkAttr(b, H + 40);
});

test('entryOut: a negative entry (nodeid 0, no attr) is zero but for its timeout', () => {
  const b = entryOut(0, 0, null, 2000, 0);
  assert.equal(b.length, H + 128);
  assert.equal(u64(b, H + 16), 2n, 'entry_valid');
  const rest = Buffer.from(b.subarray(H));
  rest.writeBigUInt64LE(0n, 16);
  assert.ok(rest.every((x) => x === 0));
});

test('replies not zeroed first write every byte of their payload and leave the header to the session', () => {
  const replies: Array<[string, () => Buffer]> = [
    ['entryOut', () => entryOut(9, 1, attr, 1000, 1000)],
    ['entryOut, negative', () => entryOut(0, 0, null, 1000, 0)],
    ['attrOut', () => attrOut(attr, 1000)],
    ['openOut', () => openOut(3, 1, 2)],
    ['createOut', () => createOut(9, 1, attr, 1000, 1000, 3, 1, 2)],
    ['writeOut', () => writeOut(4096)],
  ];
  for (const [name, make] of replies) {
    // Copied out of the slab, which the next soiling covers whole.
    const onZeros = [...madeOnSoiledSlab(make, 0x00).subarray(H)];
    const onOnes = [...madeOnSoiledSlab(make, 0xff).subarray(H)];
    assert.deepEqual(onOnes, onZeros, `${name}: no payload byte is left as it was`);
    assert.ok(
      madeOnSoiledSlab(make, 0xff)
        .subarray(0, H)
        .every((x) => x === 0xff),
      `${name}: the header is the session's`,
    );
  }
});

test('writeEntryOut: at an offset, as READDIRPLUS and CREATE place it', () => {
  const b = Buffer.alloc(40 + 128);
  writeEntryOut(b, 40, 9, 0, attr, 0, 0);
  assert.equal(u64(b, 40), 9n);
  checkAttr(b, 40 + 40);
});

test('attrOut: struct fuse_attr_out, 104 bytes', () => {
  const b = attrOut(attr, 61_000.25);
  assert.equal(b.length, H + 104);
  checkHeaderRoomUnzeroed(b);
  assert.equal(u64(b, H + 0), 61n, 'attr_valid');
  assert.equal(u32(b, H + 8), 250_000, 'attr_valid_nsec');
  assert.equal(u32(b, H + 12), 0, 'dummy');
  checkAttr(b, H + 16);
});

test('openOut: struct fuse_open_out, 16 bytes, backing_id at 12', () => {
  const b = openOut(2 ** 33 + 5, (1 << 7) | (1 << 1), 42);
  assert.equal(b.length, H + 16);
  checkHeaderRoomUnzeroed(b);
  assert.equal(u64(b, H + 0), 2n ** 33n + 5n, 'fh');
  assert.equal(u32(b, H + 8), 0x82, 'open_flags');
  assert.equal(i32(b, H + 12), 42, 'backing_id');
  assert.equal(i32(openOut(1, 0), H + 12), 0, 'backing_id defaults to 0');
});

test('createOut: fuse_entry_out then fuse_open_out, 144 bytes', () => {
  const b = createOut(7, 0, attr, 1000, 2000, 3, 1 << 7, 5);
  assert.equal(b.length, H + 144);
  checkHeaderRoomUnzeroed(b);
  assert.equal(u64(b, H + 0), 7n, 'nodeid');
  assert.equal(u64(b, H + 16), 1n, 'entry_valid');
  assert.equal(u64(b, H + 24), 2n, 'attr_valid');
  checkAttr(b, H + 40);
  assert.equal(u64(b, H + 128), 3n, 'open_out.fh');
  assert.equal(u32(b, H + 136), 0x80, 'open_out.open_flags');
  assert.equal(i32(b, H + 140), 5, 'open_out.backing_id (128 + 12)');
});

test('writeOut: struct fuse_write_out, 8 bytes', () => {
  const b = writeOut(0xffff_fffe);
  assert.equal(b.length, H + 8);
  checkHeaderRoomUnzeroed(b);
  assert.equal(u32(b, H), 0xffff_fffe, 'size');
  assert.equal(u32(b, H + 4), 0, 'padding');
});

test('copyFileRange64Out: a u64 byte count', () => {
  const b = copyFileRange64Out(5 * GiB);
  assert.equal(b.length, H + 8);
  assert.equal(u64(b, H), 5n * 2n ** 30n);
});

test('statfsOut: struct fuse_kstatfs, 80 bytes', () => {
  const st: StatFs = {
    blocks: 2 ** 40,
    bfree: 2 ** 39 + 1,
    bavail: 2 ** 39,
    files: 2 ** 33,
    ffree: 12345,
    bsize: 4096,
    namelen: 255,
    frsize: 512,
  };
  const b = statfsOut(st);
  assert.equal(b.length, H + 80);
  checkHeaderRoom(b);
  assert.equal(u64(b, H + 0), 2n ** 40n, 'blocks');
  assert.equal(u64(b, H + 8), 2n ** 39n + 1n, 'bfree');
  assert.equal(u64(b, H + 16), 2n ** 39n, 'bavail');
  assert.equal(u64(b, H + 24), 2n ** 33n, 'files');
  assert.equal(u64(b, H + 32), 12345n, 'ffree');
  assert.equal(u32(b, H + 40), 4096, 'bsize');
  assert.equal(u32(b, H + 44), 255, 'namelen');
  assert.equal(u32(b, H + 48), 512, 'frsize');
  assert.ok(
    b.subarray(H + 52).every((x) => x === 0),
    'padding and spare[6]',
  );
});

test('initOut: struct fuse_init_out, 64 bytes', () => {
  const flags = (1n << 30n) | (1n << 22n) | 1n | (1n << 37n) | (1n << 63n);
  const b = initOut({
    major: 7,
    minor: 45,
    maxReadahead: 131072,
    flags,
    maxBackground: 0xfffe,
    congestionThreshold: 0xbeef,
    maxWrite: 1 << 20,
    timeGran: 1,
    maxPages: 256,
    maxStackDepth: 1,
  });
  assert.equal(b.length, H + 64);
  checkHeaderRoom(b);
  assert.equal(u32(b, H + 0), 7, 'major');
  assert.equal(u32(b, H + 4), 45, 'minor');
  assert.equal(u32(b, H + 8), 131072, 'max_readahead');
  assert.equal(u32(b, H + 12), (1 << 30) | (1 << 22) | 1, 'flags');
  assert.equal(u16(b, H + 16), 0xfffe, 'max_background');
  assert.equal(u16(b, H + 18), 0xbeef, 'congestion_threshold');
  assert.equal(u32(b, H + 20), 1 << 20, 'max_write');
  assert.equal(u32(b, H + 24), 1, 'time_gran');
  assert.equal(u16(b, H + 28), 256, 'max_pages');
  assert.equal(u16(b, H + 30), 0, 'map_alignment');
  assert.equal(u32(b, H + 32), 0x8000_0020, 'flags2: bits 37 and 63');
  assert.equal(u32(b, H + 36), 1, 'max_stack_depth');
  assert.ok(
    b.subarray(H + 40).every((x) => x === 0),
    'request_timeout and unused',
  );
});

test('lseekOut: struct fuse_lseek_out, a u64 offset', () => {
  const b = lseekOut(5 * GiB + 1);
  assert.equal(b.length, H + 8);
  checkHeaderRoom(b);
  assert.equal(u64(b, H), 5n * 2n ** 30n + 1n);
});

test('getxattrSizeOut: struct fuse_getxattr_out, size then padding', () => {
  const b = getxattrSizeOut(65536);
  assert.equal(b.length, H + 8);
  checkHeaderRoom(b);
  assert.equal(u32(b, H), 65536);
  assert.equal(u32(b, H + 4), 0);
});

test('bytesOut: the payload verbatim after the header room', () => {
  const data = Buffer.from([1, 0, 2, 0xff]);
  const b = bytesOut(data);
  assert.equal(b.length, H + 4);
  assert.deepEqual([...b.subarray(H)], [1, 0, 2, 0xff]);
});

/** A listing of `entries` (name, ino, cookie, st_mode type), as a backend makes one. */
function listing(...entries: [string, number, number, number][]): DirListing {
  const l = new DirListing(1);
  for (const [name, ino, cookie, type] of entries) l.push(name, ino, type, cookie);
  return l;
}
const allRecords = (w: DirentWriter, l: DirListing): void => w.addRecords(l.bytes, 0, l.start(l.length));

test('DirentWriter: record sizes are 24 + name, padded to 8; plus adds 128', () => {
  assert.equal(DirentWriter.recordSize(1, false), 32);
  assert.equal(DirentWriter.recordSize(8, false), 32);
  assert.equal(DirentWriter.recordSize(9, false), 40);
  assert.equal(DirentWriter.recordSize(0, false), 24);
  assert.equal(DirentWriter.recordSize(1, true), 160);
  assert.equal(DirentWriter.recordSize(8, true), 160);
  assert.equal(DirentWriter.recordSize(9, true), 168);
});

test('DirentWriter: fuse_dirent records, byte for byte', () => {
  const w = new DirentWriter(4096);
  const snow = 'é☃'; // 2 + 3 UTF-8 bytes
  allRecords(w, listing(['a', 2 ** 34 + 1, 1, 0o040000], [snow, 7, 5 * GiB, 0o100000], ['exactly8', 9, 3, 0o120000]));
  const b = w.finish();
  assert.equal(b.length, H + 32 + 32 + 32);
  checkHeaderRoom(b);

  let at = H;
  assert.equal(u64(b, at + 0), 2n ** 34n + 1n, 'ino');
  assert.equal(u64(b, at + 8), 1n, 'off');
  assert.equal(u32(b, at + 16), 1, 'namelen');
  assert.equal(u32(b, at + 20), 4, 'type: DT_DIR');
  assert.equal(b.toString('utf8', at + 24, at + 25), 'a');
  assert.ok(
    b.subarray(at + 25, at + 32).every((x) => x === 0),
    'padding',
  );

  at += 32;
  assert.equal(u64(b, at + 0), 7n);
  assert.equal(u64(b, at + 8), 5n * 2n ** 30n, 'off above 2^32');
  assert.equal(u32(b, at + 16), 5, 'namelen counts bytes, not characters');
  assert.equal(u32(b, at + 20), 8, 'type: DT_REG');
  assert.equal(b.toString('utf8', at + 24, at + 29), snow);
  assert.ok(
    b.subarray(at + 29, at + 32).every((x) => x === 0),
    'padding',
  );

  at += 32;
  assert.equal(u32(b, at + 16), 8);
  assert.equal(u32(b, at + 20), 10, 'type: DT_LNK');
  assert.equal(b.toString('utf8', at + 24, at + 32), 'exactly8');
});

test('DirentWriter: fuse_direntplus records, entry_out then dirent', () => {
  // On a buffer that held something else: every byte of a record is written.
  const w = new DirentWriter(4096, Buffer.alloc(H + 4096, 0xff));
  const l = listing(['f', 11, 3, 0o100000], ['..', 1, 4, 0o040000]);
  w.addPlusRecord((buf, at) => writeEntryOut(buf, at, 2 ** 33 + 9, 0, attr, 1000, 2000), l.recordWords, l.start(0), l.start(1));
  w.addPlusRecord(null, l.recordWords, l.start(1), l.start(2)); // '.'/'..': the entry part is zero
  const b = w.finish();
  assert.equal(b.length, H + 160 + 160);
  let at = H;
  assert.equal(u64(b, at + 0), 2n ** 33n + 9n, 'entry_out.nodeid');
  assert.equal(u64(b, at + 16), 1n, 'entry_out.entry_valid');
  assert.equal(u64(b, at + 24), 2n, 'entry_out.attr_valid');
  checkAttr(b, at + 40);
  assert.equal(u64(b, at + 128), 11n, 'dirent.ino');
  assert.equal(u64(b, at + 136), 3n, 'dirent.off');
  assert.equal(u32(b, at + 144), 1, 'dirent.namelen');
  assert.equal(u32(b, at + 148), 8, 'dirent.type');
  assert.equal(b.toString('utf8', at + 152, at + 153), 'f');
  assert.ok(
    b.subarray(at + 153, at + 160).every((x) => x === 0),
    'padding',
  );

  at += 160;
  assert.ok(
    b.subarray(at, at + 128).every((x) => x === 0),
    'no entry for ..',
  );
  assert.equal(u64(b, at + 128), 1n);
  assert.equal(u32(b, at + 144), 2);
  assert.equal(b.toString('utf8', at + 152, at + 154), '..');
});

test('DirentWriter: fits() stops at the size the kernel asked for', () => {
  const w = new DirentWriter(72); // room for 32 + 40, not a third
  assert.ok(w.fits(1, false));
  allRecords(w, listing(['a', 1, 1, 0o100000]));
  assert.ok(w.fits(9, false));
  allRecords(w, listing(['123456789', 2, 2, 0o100000]));
  assert.equal(w.fits(0, false), false);
  assert.equal(w.finish().length, H + 72);

  const p = new DirentWriter(159);
  assert.equal(p.fits(1, true), false, 'a 160-byte direntplus does not fit in 159');
  assert.equal(p.finish().length, H, 'an empty reply is just the header');
});

test('DirentWriter: in a reused buffer, padding and a record without an entry are zero, not old bytes', () => {
  const dirty = Buffer.alloc(H + 4096, 0xff);
  const w = new DirentWriter(4096, dirty);
  allRecords(w, listing(['abc', 7, 1, 0o100000])); // 24 + 3 bytes, padded to 32
  const plus = new DirentWriter(4096, Buffer.alloc(H + 4096, 0xee));
  const dots = listing(['..', 1, 2, 0o040000]);
  plus.addPlusRecord(null, dots.recordWords, 0, dots.start(1)); // no entry
  const b = w.finish();
  assert.ok(
    b.subarray(0, H).every((x) => x === 0),
    'header room',
  );
  assert.ok(
    b.subarray(H + 27, H + 32).every((x) => x === 0),
    'padding after the name',
  );
  const p = plus.finish();
  assert.ok(
    p.subarray(H, H + 128).every((x) => x === 0),
    'entry_out left unwritten',
  );
  assert.ok(
    p.subarray(H + 128 + 26, H + 128 + 32).every((x) => x === 0),
    'padding after ".."',
  );
});

test('ReplyPool: a buffer written comes back for the next reply of its class, and only a buffer the pool lent', () => {
  const capacity = H + (1 << 20);
  const pool = new ReplyPool(capacity);
  const a = pool.take(4096);
  assert.equal(a.length, H + 4096);
  pool.giveBack(a.subarray(0, H + 100)); // a short read sends a view of the buffer
  assert.equal(pool.take(4096).buffer, a.buffer, 'the 4 KiB class reuses it');

  const small = pool.take(100);
  assert.equal(small.length, H + 100);
  assert.equal(small.buffer.byteLength, H + 4096, 'under 4 KiB: the smallest class');
  const b = pool.take(5000);
  assert.equal(b.buffer.byteLength, H + 8192, 'just over 4 KiB: the next class up');
  pool.giveBack(b);
  assert.notEqual(pool.take(4096).buffer, b.buffer, 'classes do not mix');
  assert.equal(pool.take(8000).buffer, b.buffer);
  assert.equal(pool.take(64 * 1024).buffer.byteLength, H + 64 * 1024, 'the largest small class');
  assert.equal(pool.take(64 * 1024 + 1).buffer.byteLength, capacity, 'past it: the large buffers');
  assert.equal(pool.take(2 << 20).length, H + (2 << 20), 'beyond capacity: a buffer of its own');

  const foreign = replyBufferUnsafe(4096);
  pool.giveBack(foreign);
  assert.notEqual(pool.take(4096).buffer, foreign.buffer, 'a buffer the pool did not lend is never lent out');
  const other = new ReplyPool(capacity);
  const theirs = other.take(4096);
  pool.giveBack(theirs);
  assert.notEqual(pool.take(4096).buffer, theirs.buffer, "another pool's buffer is not taken in");
  other.giveBack(theirs);
  assert.equal(other.take(4096).buffer, theirs.buffer, 'it goes back to the pool that lent it');

  // Attribute and entry replies share Node's allocation slab with other buffers: never pooled.
  const slab = replyBuffer(64);
  assert.ok(![H + 4096, H + 8192, capacity].includes(slab.buffer.byteLength), 'from a slab of no class size');
  pool.giveBack(slab);
  for (const size of [100, 4096, 8000, 64 * 1024, 1 << 20])
    assert.notEqual(pool.take(size).buffer, slab.buffer, `the slab is not lent out for ${size} bytes`);

  const c = pool.take(4096);
  pool.giveBack(c);
  pool.giveBack(c); // written twice (a retry): kept once
  assert.equal(pool.take(4096).buffer, c.buffer);
  assert.notEqual(pool.take(4096).buffer, c.buffer, 'not lent a second time while the first loan is out');
});

test('ReplyPool: idle buffers kept per class are bounded', () => {
  const pool = new ReplyPool(H + (1 << 20));
  const lent = Array.from({ length: 40 }, () => pool.take(4096));
  for (const b of lent) pool.giveBack(b);
  const kept = new Set(lent.map((b) => b.buffer));
  const again = Array.from({ length: 40 }, () => pool.take(4096));
  const reused = again.filter((b) => kept.has(b.buffer)).length;
  assert.equal(reused, 16, 'at most 16 idle 4 KiB buffers kept');
  const large = Array.from({ length: 8 }, () => pool.take(1 << 20));
  for (const b of large) pool.giveBack(b);
  const largeKept = new Set(large.map((b) => b.buffer));
  assert.equal(Array.from({ length: 8 }, () => pool.take(1 << 20)).filter((b) => largeKept.has(b.buffer)).length, 4);
});
