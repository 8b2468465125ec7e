// File names, paths, link targets and attribute names are bytes to the kernel,
// not text: any byte but NUL (and '/' in a name), in no particular encoding.
// The daemon holds them as strings, UTF-8 decoded where the bytes are UTF-8;
// each byte of what is not becomes a lone surrogate U+DC80–U+DCFF (as Python's
// "surrogateescape"), which no UTF-8 decodes to, so every name comes back to
// the kernel and the backing filesystem as the bytes it came as. Node's own
// UTF-8 turns such bytes into U+FFFD, which would make "caf\xe9" and "caf\xe8"
// one name, and a name listed in a directory one that cannot be looked up.
import { isUtf8 } from 'node:buffer';

const ESCAPE_BASE = 0xdc00;
/**
 * Whether any name with an escaped byte was decoded yet. Until one is, no string can hold an
 * escape, and the encoders skip looking for them (isWellFormed costs ~20 ns a call).
 */
let escapesMade = false;

/** The name in `buf[start, end)` as a string that encodes back to the same bytes. */
export function decodeName(buf: Buffer, start: number, end: number): string {
  for (let i = start; i < end; i++) if (buf[i]! >= 0x80) return decodeNonAscii(buf, start, end);
  return buf.toString('utf8', start, end);
}

/** decodeName of a name with a byte past ASCII: UTF-8, unless some of it is not. */
export function decodeNonAscii(buf: Buffer, start: number, end: number): string {
  const bytes = buf.subarray(start, end);
  if (isUtf8(bytes)) return bytes.toString('utf8');
  escapesMade = true;
  let out = '';
  let run = start; // start of the well-formed bytes not yet decoded
  for (let i = start; i < end;) {
    const n = sequenceLength(buf, i, end);
    if (n > 0) {
      i += n;
      continue;
    }
    out += buf.toString('utf8', run, i) + String.fromCharCode(ESCAPE_BASE + buf[i]!);
    run = ++i;
  }
  return out + buf.toString('utf8', run, end);
}

/** Bytes of the well-formed UTF-8 sequence at `i` (RFC 3629: no overlongs, surrogates or past U+10FFFF), 0 if none. */
function sequenceLength(b: Buffer, i: number, end: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => i + k < end && b[i + k]! >= lo && b[i + k]! <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const lo = c === 0xe0 ? 0xa0 : 0x80;
    const hi = c === 0xed ? 0x9f : 0xbf;
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const lo = c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xf4 ? 0x8f : 0xbf;
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

/** Whether the string may hold an escaped byte (or another lone surrogate), which Node's UTF-8 would not keep. */
const escaped = (s: string): boolean => escapesMade && !s.isWellFormed();

/** How many bytes `s` (from decodeName, or any string) stands for. */
export function nameByteLength(s: string): number {
  return escaped(s) ? encodeEscaped(s).length : Buffer.byteLength(s);
}

/** The bytes `s` stands for. */
export function nameBuffer(s: string): Buffer {
  return escaped(s) ? encodeEscaped(s) : Buffer.from(s);
}

/** Writes the bytes `s` stands for into `into` at `at` (which must have room: nameByteLength); returns how many. */
export function writeName(s: string, into: Buffer, at: number): number {
  if (!escaped(s)) return into.write(s, at, 'utf8');
  const bytes = encodeEscaped(s);
  bytes.copy(into, at);
  return bytes.length;
}

/**
 * `s` for a `const char *` argument: the string itself, which koffi passes as UTF-8, unless it
 * holds escaped bytes; then its bytes, NUL-terminated.
 */
export function cName(s: string): string | Buffer {
  if (!escaped(s)) return s;
  const bytes = encodeEscaped(s);
  return Buffer.concat([bytes, ZERO]);
}
const ZERO = Buffer.alloc(1);

/** UTF-8 of `s` with each escape U+DC80–U+DCFF as its byte; another lone surrogate as U+FFFD, as Node does. */
function encodeEscaped(s: string): Buffer {
  const parts: Buffer[] = [];
  let run = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      i++; // a pair: one character past U+FFFF
      continue;
    }
    if (c < 0xdc80 || c > 0xdcff) continue;
    parts.push(Buffer.from(s.slice(run, i)), Buffer.of(c - ESCAPE_BASE));
    run = i + 1;
  }
  parts.push(Buffer.from(s.slice(run)));
  return Buffer.concat(parts);
}
