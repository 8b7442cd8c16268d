/**
 * Protobuf base-128 varints of 64-bit integers, carried as JS numbers. Values are exact within
 * ±2^53 (Number.MAX_SAFE_INTEGER); Prometheus timestamps in ms are far inside that range.
 * Larger magnitudes (e.g. math.MaxInt64 used as an "open" chunk end) come back rounded.
 */
import { DecodeError } from './decode-error';

/** Anything with a byte buffer and a read position, e.g. a protobufjs Reader. */
export interface ByteCursor {
  readonly buf: Uint8Array;
  pos: number;
  readonly len: number;
}

export const TWO_32 = 4294967296;

function truncated(c: ByteCursor): DecodeError {
  return new DecodeError(`varint runs past the end of the message at byte ${c.pos} of ${c.len}`);
}

/** Reads a varint as a two's-complement int64 (protobuf int64), advancing c.pos. */
export function readInt64(c: ByteCursor): number {
  const buf = c.buf;
  let pos = c.pos;
  const len = c.len;
  // Fast path: up to 4 bytes (values below 2^28).
  let lo = 0;
  let b = 0;
  let shift = 0;
  for (; shift < 28; shift += 7) {
    if (pos >= len) throw truncated(c);
    b = buf[pos++]!;
    lo |= (b & 0x7f) << shift;
    if (b < 0x80) {
      c.pos = pos;
      return lo >>> 0;
    }
  }
  // 5th byte: 4 bits to lo, 3 bits to hi.
  if (pos >= len) throw truncated(c);
  b = buf[pos++]!;
  lo |= (b & 0x0f) << 28;
  let hi = (b & 0x7f) >>> 4;
  // Bytes 6 to 10 carry bits 35 to 63.
  for (shift = 3; b >= 0x80; shift += 7) {
    if (shift > 31) throw new DecodeError(`varint longer than 10 bytes at byte ${c.pos}`);
    if (pos >= len) throw truncated(c);
    b = buf[pos++]!;
    hi |= (b & 0x7f) << shift;
  }
  c.pos = pos;
  return (hi | 0) * TWO_32 + (lo >>> 0);
}

/** Reads a varint as uint64, advancing c.pos. */
export function readUint64(c: ByteCursor): number {
  const start = c.pos;
  const v = readInt64(c);
  if (v >= 0) return v;
  // Re-read as unsigned: the high word had its top bit set.
  c.pos = start;
  return readInt64(c) + 2 * 2 ** 63;
}

/** Bytes a varint of the int64 n takes (negative numbers always take 10). */
export function int64Size(n: number): number {
  if (n < 0) return 10;
  if (n < 0x80) return 1;
  if (n < 0x4000) return 2;
  if (n < 0x200000) return 3;
  if (n < 0x10000000) return 4;
  let size = 4;
  let v = Math.floor(n / 0x10000000);
  while (v > 0) {
    size++;
    v = Math.floor(v / 128);
  }
  return size;
}

/** Writes n (an integer within ±2^63) as an int64 varint at buf[pos]; returns the next position. */
export function writeInt64(buf: Uint8Array, pos: number, n: number): number {
  if (n >= 0 && n < 0x80000000) {
    let v = n;
    while (v >= 0x80) {
      buf[pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[pos++] = v;
    return pos;
  }
  // Split into two's-complement 32-bit halves.
  let hi: number;
  let lo: number;
  if (n >= 0) {
    hi = Math.floor(n / TWO_32) >>> 0;
    lo = n >>> 0;
  } else {
    const m = -n;
    let mhi = Math.floor(m / TWO_32) >>> 0;
    let mlo = m >>> 0;
    // Negate the 64-bit magnitude.
    mlo = ~mlo >>> 0;
    mhi = ~mhi >>> 0;
    mlo = (mlo + 1) >>> 0;
    if (mlo === 0) mhi = (mhi + 1) >>> 0;
    hi = mhi;
    lo = mlo;
  }
  return writeVarintBits(buf, pos, hi, lo);
}

/** Writes the uint64 (hi, lo) as a varint; returns the next position. */
export function writeVarintBits(buf: Uint8Array, pos: number, hi: number, lo: number): number {
  hi >>>= 0;
  lo >>>= 0;
  while (hi !== 0 || lo >= 0x80) {
    buf[pos++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  buf[pos++] = lo;
  return pos;
}
