// A cursor over one request's bytes. Fields are decoded in place; payloads are
// views, not copies. Running past the end is a protocol fault, not an errno.
import * as le from '../util/le.ts';
import { decodeNonAscii } from '../util/byte-names.ts';

export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

export class Reader {
  buf: Buffer;
  pos: number;
  end: number;

  constructor(buf: Buffer, pos: number, end: number) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  /** Points the cursor at another request: one Reader serves a whole session. */
  reset(buf: Buffer, pos: number, end: number): this {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    return this;
  }

  private need(n: number): number {
    const at = this.pos;
    if (at + n > this.end) throw new ProtocolError(`request too short: need ${n} bytes at ${at}, have ${this.end - at}`);
    this.pos = at + n;
    return at;
  }

  u16(): number {
    return le.u16(this.buf, this.need(2));
  }

  u32(): number {
    return le.u32(this.buf, this.need(4));
  }

  i32(): number {
    return le.i32(this.buf, this.need(4));
  }

  /** u64 exactly: for values chosen by someone else (a directory cookie). */
  u64Exact(): bigint {
    return this.buf.readBigUInt64LE(this.need(8));
  }

  /** u64 as a number: exact below 2^53, which covers offsets, sizes and our ids. */
  u64(): number {
    return le.u64(this.buf, this.need(8));
  }

  skip(n: number): void {
    this.need(n);
  }

  /** A NUL-terminated name (any bytes: byte-names.ts). */
  cstr(): string {
    const start = this.pos;
    const buf = this.buf;
    const end = this.end;
    // Names are short: a loop finds the NUL sooner than Buffer's indexOf() gets to its native search.
    let nul = start;
    let high = 0; // any byte past ASCII: then it may not be UTF-8 (decodeName)
    while (nul < end && buf[nul] !== 0) high |= buf[nul++]!;
    if (nul >= end) throw new ProtocolError(`unterminated string at ${start}`);
    this.pos = nul + 1;
    return high < 0x80 ? buf.toString('utf8', start, nul) : decodeNonAscii(buf, start, nul);
  }

  /** A view of the next n bytes. */
  bytes(n: number): Buffer {
    const at = this.need(n);
    return this.buf.subarray(at, at + n);
  }

  /** A view of everything left. */
  rest(): Buffer {
    const at = this.pos;
    this.pos = this.end;
    return this.buf.subarray(at, this.end);
  }
}
