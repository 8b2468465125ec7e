// util/le.ts against Buffer's own little-endian methods, over edge values and random ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as le from '../../src/util/le.ts';

const u32s = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
const i32s = [0, 1, -1, 0x7fffffff, -0x80000000, -2, 12345, -12345];
const u64s = [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 53 - 1, 1_700_000_000_123];
const i64s = [...u64s, -1, -(2 ** 32), -(2 ** 53 - 1), -86_400];
for (let i = 0; i < 200; i++) {
  u32s.push(Math.floor(Math.random() * 2 ** 32));
  i32s.push(Math.floor(Math.random() * 2 ** 32) - 2 ** 31);
  u64s.push(Math.floor(Math.random() * 2 ** 53));
  i64s.push(Math.floor(Math.random() * 2 ** 53) - 2 ** 52);
}

test('u16, u32, i32 read what Buffer writes, at odd offsets too', () => {
  const b = Buffer.alloc(16);
  for (const v of u32s) {
    b.writeUInt32LE(v, 3);
    assert.equal(le.u32(b, 3), v);
    b.writeUInt16LE(v & 0xffff, 5);
    assert.equal(le.u16(b, 5), v & 0xffff);
  }
  for (const v of i32s) {
    b.writeInt32LE(v, 1);
    assert.equal(le.i32(b, 1), v);
  }
});

test('u64 and i64 read what Buffer writes', () => {
  const b = Buffer.alloc(16);
  for (const v of u64s) {
    b.writeBigUInt64LE(BigInt(v), 7);
    assert.equal(le.u64(b, 7), v);
  }
  for (const v of i64s) {
    b.writeBigInt64LE(BigInt(v), 2);
    assert.equal(le.i64(b, 2), v);
  }
});

test('putU16, putU32 (u32 and i32) and putU64 (u64 and i64) write what Buffer reads, and nothing else', () => {
  const b = Buffer.alloc(16);
  for (const v of u32s) {
    b.fill(0xaa);
    le.putU32(b, v, 5);
    assert.equal(b.readUInt32LE(5), v);
    assert.equal(b[4], 0xaa);
    assert.equal(b[9], 0xaa);
    le.putU16(b, v & 0xffff, 0);
    assert.equal(b.readUInt16LE(0), v & 0xffff);
  }
  for (const v of i32s) {
    le.putU32(b, v, 4);
    assert.equal(b.readInt32LE(4), v);
  }
  for (const v of i64s) {
    b.fill(0xaa);
    le.putU64(b, v, 3);
    assert.equal(b.readBigInt64LE(3), BigInt(v));
    assert.equal(b[2], 0xaa);
    assert.equal(b[11], 0xaa);
  }
});

test('putU64 drops a fraction toward zero, as the fields it writes (sizes, seconds) want', () => {
  const b = Buffer.alloc(8);
  for (const [v, want] of [
    [1.9, 1n],
    [2 ** 32 + 0.5, 2n ** 32n],
    [-0.5, 0n],
    [-1.5, -1n],
    [-(2 ** 32) - 0.25, -(2n ** 32n)],
  ] as const) {
    le.putU64(b, v, 0);
    assert.equal(b.readBigInt64LE(0), want, `${v}`);
  }
});
