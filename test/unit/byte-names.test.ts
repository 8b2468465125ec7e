// util/byte-names.ts: any bytes a name may hold come back as the same bytes, and UTF-8 names read
// as Node reads them.
import { isUtf8 } from 'node:buffer';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cName, decodeName, nameBuffer, nameByteLength, writeName } from '../../src/util/byte-names.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Decodes `bytes` from the middle of a larger buffer, then checks every way back to bytes. */
function roundTrip(bytes: Buffer): string {
  const framed = Buffer.concat([Buffer.from('x/'), bytes, Buffer.from('/y')]);
  const s = decodeName(framed, 2, 2 + bytes.length);
  assert.equal(hex(nameBuffer(s)), hex(bytes), `nameBuffer of ${hex(bytes)}`);
  assert.equal(nameByteLength(s), bytes.length, `nameByteLength of ${hex(bytes)}`);
  const into = Buffer.alloc(bytes.length + 4, 0xaa);
  assert.equal(writeName(s, into, 2), bytes.length);
  assert.equal(hex(into.subarray(2, 2 + bytes.length)), hex(bytes), `writeName of ${hex(bytes)}`);
  assert.equal(into[1], 0xaa, 'nothing written before');
  assert.equal(into[2 + bytes.length], 0xaa, 'nothing written past');
  const c = cName(s);
  if (isUtf8(bytes)) assert.equal(c, s, `cName of UTF-8 ${hex(bytes)}: the string itself`);
  else assert.equal(typeof c !== 'string' && hex(c), hex(bytes) + '00', `cName of ${hex(bytes)}: the bytes, NUL-terminated`);
  return s;
}

test('UTF-8 names read as Node reads them, and go to C as the same string', () => {
  for (const name of ['file.txt', 'café', '日本語', 'emoji 😀 here', 'ok\uFFFD', 'a'.repeat(255)]) {
    const s = roundTrip(Buffer.from(name));
    assert.equal(s, name);
    assert.equal(cName(s), name);
  }
});

test('bytes that are not UTF-8 come back as the same bytes, each its own name', () => {
  const cases = [
    [0x80],
    [0x63, 0x61, 0x66, 0xe9], // Latin-1 "café"
    [0xff, 0xfe],
    [0xed, 0xa0, 0x80], // a surrogate's CESU-8
    [0xc0, 0xaf], // overlong '/'
    [0xe0, 0x80, 0xaf], // overlong
    [0xf4, 0x90, 0x80, 0x80], // past U+10FFFF
    [0xf0, 0x9f, 0x98], // a sequence cut short
    [0xf0, 0x9f, 0x98, 0x80, 0x80], // an emoji, then a stray byte
    [0xe2, 0x82, 0x61], // a sequence broken by ASCII
    Array(255).fill(0x80),
  ].map((b) => Buffer.from(b));
  const seen = new Map<string, string>();
  for (const bytes of cases) {
    const s = roundTrip(bytes);
    assert.equal(seen.get(s), undefined, `${hex(bytes)} and ${seen.get(s)} read as one name`);
    seen.set(s, hex(bytes));
  }
  assert.equal(nameByteLength(decodeName(cases.at(-1)!, 0, 255)), 255, 'a 255-byte name stays within NAME_MAX');
});

test('random bytes of every value but NUL round-trip, and different bytes stay different', () => {
  let seed = 12345;
  const next = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16;
  const seen = new Map<string, string>();
  for (let i = 0; i < 5000; i++) {
    // Weighted toward high bytes, where the escapes are.
    const bytes = Buffer.from(
      Array.from({ length: 1 + (next() % 24) }, () => (next() % 3 === 0 ? 1 + (next() % 127) : 0x80 + (next() % 128))),
    );
    const s = roundTrip(bytes);
    const before = seen.get(s);
    assert.ok(before === undefined || before === hex(bytes), `${hex(bytes)} and ${before} read as one name`);
    seen.set(s, hex(bytes));
  }
});
