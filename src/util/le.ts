// Little-endian integers read from and written into byte arrays, for the
// request path (request fields, reply structs, statx results).
//
// Buffer's readUInt32LE() and writeUInt32LE() validate their arguments through
// helpers that take rest parameters. Where V8 inlines them the checks cost
// nothing, but a function that makes twenty such calls (a fuse_attr, a statx
// result) runs out of inlining budget, and every call left then allocates an
// argument array: ~5 MiB of garbage per 10,000 files created (bench/RESULTS.md
// item 47). Plain byte loads and stores need no call. Callers keep within
// bounds themselves (the request Reader checks each field; reply buffers are
// sized for their struct), since a typed array ignores a store past its end.

const TWO_32 = 4294967296;

export function u16(b: Uint8Array, at: number): number {
  return b[at] | (b[at + 1] << 8);
}

export function u32(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16)) + b[at + 3] * 0x1000000;
}

export function i32(b: Uint8Array, at: number): number {
  return b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24);
}

/** A u64 as a number: exact below 2^53. */
export function u64(b: Uint8Array, at: number): number {
  return u32(b, at) + u32(b, at + 4) * TWO_32;
}

/** An i64 as a number (times before 1970 are negative): exact within ±2^53. */
export function i64(b: Uint8Array, at: number): number {
  return u32(b, at) + i32(b, at + 4) * TWO_32;
}

export function putU16(b: Uint8Array, value: number, at: number): void {
  b[at] = value;
  b[at + 1] = value >>> 8;
}

/** Writes the low 32 bits of `value`: a u32, or an i32 in two's complement. */
export function putU32(b: Uint8Array, value: number, at: number): void {
  b[at] = value;
  b[at + 1] = value >>> 8;
  b[at + 2] = value >>> 16;
  b[at + 3] = value >>> 24;
}

/**
 * Writes a number within ±2^53 as a u64, its fraction dropped (negative ones in two's complement, as
 * an i64 field such as a time before 1970 wants them).
 */
export function putU64(b: Uint8Array, n: number, at: number): void {
  const value = Math.trunc(n);
  const high = Math.floor(value / TWO_32);
  putU32(b, value - high * TWO_32, at);
  putU32(b, high, at + 4);
}
