/**
 * Growable byte writer and bounds-checked reader with the varints of the shard format.
 *
 * Varints are unsigned LEB128 holding integers up to 2^53 - 1 (at most 8 bytes); signed values
 * use zigzag (0, -1, 1, -2, ... -> 0, 1, 2, 3, ...). All arithmetic stays within exact doubles:
 * callers keep signed inputs within +-2^52.
 */
import { CorruptShardError } from '../errors';

export class ByteWriter {
  buf: Uint8Array;
  pos = 0;

  constructor(initial = 1024) {
    this.buf = new Uint8Array(initial);
  }

  /** Makes room for n more bytes. */
  ensure(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const bigger = new Uint8Array(size);
    bigger.set(this.buf.subarray(0, this.pos));
    this.buf = bigger;
  }

  reset(): void {
    this.pos = 0;
  }

  /** Drops a buffer that grew beyond `max` bytes so one huge block does not pin memory. */
  shrink(max: number): void {
    if (this.buf.length > max) this.buf = new Uint8Array(max);
    this.pos = 0;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u32le(v: number): void {
    this.ensure(4);
    const b = this.buf;
    const p = this.pos;
    b[p] = v & 0xff;
    b[p + 1] = (v >>> 8) & 0xff;
    b[p + 2] = (v >>> 16) & 0xff;
    b[p + 3] = (v >>> 24) & 0xff;
    this.pos = p + 4;
  }

  /** Unsigned varint of an integer 0 <= v <= 2^53 - 1. */
  uvarint(v: number): void {
    this.ensure(8);
    const b = this.buf;
    let p = this.pos;
    while (v > 0x7f) {
      // (v & 0x7f) takes the low bits of v mod 2^32: the right 7 bits even when v >= 2^32.
      b[p++] = (v & 0x7f) | 0x80;
      v = v >= 0x100000000 ? Math.floor(v / 128) : v >>> 7;
    }
    b[p++] = v;
    this.pos = p;
  }

  /** Zigzag varint of an integer -2^52 <= v < 2^52 (its zigzag form is at most 2^53 - 1, which the reader takes). */
  svarint(v: number): void {
    this.uvarint(v >= 0 ? v * 2 : -v * 2 - 1);
  }

  bytes(src: Uint8Array): void {
    this.ensure(src.length);
    this.buf.set(src, this.pos);
    this.pos += src.length;
  }

  /** Copies 8 bytes from src[off..off+8] (raw float64 bits, no number conversion). */
  raw8(src: Uint8Array, off: number): void {
    this.ensure(8);
    const b = this.buf;
    const p = this.pos;
    for (let i = 0; i < 8; i++) b[p + i] = src[off + i] as number;
    this.pos = p + 8;
  }

  view(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

/** Number of bytes uvarint(v) writes. */
export function uvarintLen(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  if (v < 0x800000000) return 5;
  if (v < 0x40000000000) return 6;
  if (v < 0x2000000000000) return 7;
  return 8;
}

export function zigzag(v: number): number {
  return v >= 0 ? v * 2 : -v * 2 - 1;
}

export function corrupt(what: string): CorruptShardError {
  return new CorruptShardError(`shard does not decode: ${what}`);
}

export class ByteReader {
  pos: number;

  constructor(
    readonly buf: Uint8Array,
    start = 0,
    readonly end = buf.length,
    readonly what = 'block',
  ) {
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  atEnd(): boolean {
    return this.pos >= this.end;
  }

  u8(): number {
    if (this.pos >= this.end) throw corrupt(`${this.what} ends early`);
    return this.buf[this.pos++] as number;
  }

  u32le(): number {
    if (this.pos + 4 > this.end) throw corrupt(`${this.what} ends early`);
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 4;
    return (
      ((b[p] as number) | ((b[p + 1] as number) << 8) | ((b[p + 2] as number) << 16)) + (b[p + 3] as number) * 0x1000000
    );
  }

  uvarint(): number {
    // The one-byte case inline, the rest out of line: this is inlined at every call site of the
    // decoder, and a small body keeps each of those compiles small (V8's compile time is a
    // fixed cost of every cold restore).
    const p = this.pos;
    if (p < this.end) {
      const x = this.buf[p] as number;
      if (x < 0x80) {
        this.pos = p + 1;
        return x;
      }
    }
    return this.uvarintLong();
  }

  private uvarintLong(): number {
    const b = this.buf;
    let p = this.pos;
    const end = this.end;
    if (p >= end) throw corrupt(`${this.what} ends early`);
    let x = b[p++] as number;
    let v = x & 0x7f;
    let mul = 0x80;
    for (let i = 1; i < 8; i++) {
      if (p >= end) throw corrupt(`${this.what} ends early`);
      x = b[p++] as number;
      v += (x & 0x7f) * mul;
      if (x < 0x80) {
        this.pos = p;
        if (v > Number.MAX_SAFE_INTEGER) break;
        return v;
      }
      mul *= 0x80;
    }
    throw corrupt(`bad varint in ${this.what}`);
  }

  svarint(): number {
    const z = this.uvarint();
    // z <= 2^53 - 1: the halving is exact. Arithmetic with 0.5 stays in doubles from the first
    // call, so the first value past 2^30 does not deoptimise small-integer code.
    const half = z * 0.5;
    return half === Math.floor(half) ? half : -(half + 0.5);
  }

  /** A subarray of the next n bytes (no copy). */
  take(n: number): Uint8Array {
    if (n > this.end - this.pos) throw corrupt(`${this.what} ends early`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** A reader over the next n bytes. */
  sub(n: number, what: string): ByteReader {
    if (n > this.end - this.pos) throw corrupt(`${this.what} ends early`);
    const r = new ByteReader(this.buf, this.pos, this.pos + n, what);
    this.pos += n;
    return r;
  }
}
