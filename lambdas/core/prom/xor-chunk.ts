/**
 * Prometheus XOR chunks (chunk encoding 1), the Gorilla-style float encoding of the TSDB.
 *
 * Layout: 2-byte big-endian sample count, then a bit stream, most significant bit first:
 *   sample 0: timestamp as a zig-zag varint (whole bytes), value as its 64 raw bits;
 *   sample 1: timestamp delta as a uvarint, value XOR-coded;
 *   sample n: delta-of-delta of the timestamp in one of five buckets
 *             '0' (dod = 0), '10' + 14 bits, '110' + 17 bits, '1110' + 20 bits, '1111' + 64 bits
 *             (two's complement; an n-bit bucket holds -(2^(n-1) - 1) .. 2^(n-1)),
 *             value XOR-coded.
 * XOR coding of a value against the previous one:
 *   '0' same bits; '10' + the significant bits using the previous leading/trailing zero counts;
 *   '11' + 5 bits leading zeros + 6 bits significant-bit count (0 meaning 64) + those bits.
 *
 * Values are handled only as pairs of 32-bit words, never as JS numbers, so NaN payloads
 * survive. Timestamps are JS numbers (exact for |t| < 2^53 ms).
 */
import { DecodeError } from './decode-error';
import type { SampleBuffer } from './sample-buffer';
import { wordsOf } from './sample-buffer';
import { TWO_32 } from './varint';

/** Prometheus chunkenc.Encoding values. */
export const CHUNK_ENCODING_XOR = 1;
export const CHUNK_ENCODING_HISTOGRAM = 2;
export const CHUNK_ENCODING_FLOAT_HISTOGRAM = 3;
/** Out-of-order head chunks report XOR with the out-of-order bit (0x80) set. */
export const CHUNK_ENCODING_OOO_XOR = 0x81;

/** Prometheus cuts chunks at this many samples. */
export const SAMPLES_PER_CHUNK = 120;

/** Zero words after a chunk's words: more than one sample can ever read (at most ~19 bytes). */
const PAD_WORDS = 8;

/** The chunk being decoded as big-endian 32-bit words (reused; decoding is synchronous). */
let scratch = new Int32Array(256);

/** 32 bits starting at bit `pos` (MSB first) of the word stream, as an int32. */
function peek32(w: Int32Array, pos: number): number {
  const i = pos >>> 5;
  const s = pos & 31;
  // (x >>> 1) >>> (31 - s) is x >>> (32 - s), and 0 when s = 0.
  return (w[i]! << s) | ((w[i + 1]! >>> 1) >>> (31 - s));
}

/** Loads data into the word scratch, zero-padded; returns it. */
function loadWords(data: Uint8Array): Int32Array {
  const n = data.length;
  const nw = (n + 3) >>> 2;
  if (scratch.length < nw + PAD_WORDS) scratch = new Int32Array(Math.max(nw + PAD_WORDS, scratch.length * 2));
  const w = scratch;
  const full = n >>> 2;
  for (let k = 0, j = 0; k < full; k++, j += 4) {
    w[k] = (data[j]! << 24) | (data[j + 1]! << 16) | (data[j + 2]! << 8) | data[j + 3]!;
  }
  if (full < nw) {
    let last = 0;
    for (let j = 4 * full, sh = 24; j < n; j++, sh -= 8) last |= data[j]! << sh;
    w[full] = last;
  }
  w.fill(0, nw, nw + PAD_WORDS);
  return w;
}

// Result registers of readVarint (avoids allocating a pair per call).
let varHi = 0;
let varLo = 0;

/** Reads a varint of whole bytes starting at bit `pos`; returns the bit position after it. */
function readVarint(b: Int32Array, pos: number): number {
  let hi = 0;
  let lo = 0;
  for (let k = 0; k < 10; k++) {
    const byte = peek32(b, pos) >>> 24;
    pos += 8;
    const low7 = byte & 0x7f;
    if (k < 4) lo |= low7 << (7 * k);
    else if (k === 4) {
      lo |= (low7 & 0x0f) << 28;
      hi = low7 >>> 4;
    } else hi |= low7 << (7 * k - 32);
    if (byte < 0x80) {
      varHi = hi >>> 0;
      varLo = lo >>> 0;
      return pos;
    }
  }
  throw new DecodeError('XOR chunk: varint longer than 10 bytes');
}

/** Number of samples a chunk holds, from its header. */
export function xorChunkSampleCount(data: Uint8Array): number {
  if (data.length < 2) throw new DecodeError(`XOR chunk of ${data.length} bytes has no header`);
  return (data[0]! << 8) | data[1]!;
}

/**
 * Decodes an XOR chunk, appending the samples with minT <= t < maxT to `out`.
 * Returns the number of samples appended. Throws DecodeError on a truncated or malformed chunk.
 */
export function decodeXorChunk(data: Uint8Array, out: SampleBuffer, minT = -Infinity, maxT = Infinity): number {
  const count = xorChunkSampleCount(data);
  if (count === 0) return 0;
  const n = data.length;
  const b = loadWords(data);
  const limit = n * 8;

  out.reserve(count);
  const ts = out.timestamps;
  const words = out.valueWords;
  const start = out.length;
  let len = start;

  // Sample 0.
  let pos = readVarint(b, 16);
  // Zig-zag decode the 64-bit (varHi, varLo).
  let zlo = ((varLo >>> 1) | (varHi << 31)) >>> 0;
  let zhi = varHi >>> 1;
  if (varLo & 1) {
    zlo = ~zlo >>> 0;
    zhi = ~zhi;
  }
  let t = (zhi | 0) * TWO_32 + zlo;
  let vhi = peek32(b, pos) | 0;
  let vlo = peek32(b, pos + 32) | 0;
  pos += 64;
  if (pos > limit) throw truncatedChunk(n, 0, count);
  if (t >= minT && t < maxT) {
    ts[len] = t;
    words[2 * len] = vlo;
    words[2 * len + 1] = vhi;
    len++;
  }
  if (count === 1) {
    out.length = len;
    return len - start;
  }

  // Sample 1: timestamp delta as uvarint, read as int64 like Prometheus does.
  pos = readVarint(b, pos);
  let tDelta = (varHi | 0) * TWO_32 + varLo;
  t += tDelta;

  let leading = 0;
  let trailing = 0;
  for (let k = 1; ;) {
    // Value, XOR-coded.
    let w = peek32(b, pos);
    if ((w & 0x80000000) === 0) {
      pos += 1;
    } else {
      if ((w & 0x40000000) === 0) {
        pos += 2;
      } else {
        leading = (w >>> 25) & 0x1f;
        let sig = (w >>> 19) & 0x3f;
        if (sig === 0) sig = 64;
        trailing = 64 - leading - sig;
        if (trailing < 0) throw new DecodeError(`XOR chunk: sample ${k} has ${leading} leading + ${sig} bits > 64`);
        pos += 13;
      }
      const mbits = 64 - leading - trailing;
      let dhi = 0;
      let dlo: number;
      if (mbits <= 32) {
        dlo = peek32(b, pos) >>> (32 - mbits);
      } else {
        dhi = peek32(b, pos) >>> (64 - mbits);
        dlo = peek32(b, pos + mbits - 32);
      }
      pos += mbits;
      if (trailing === 0) {
        vhi ^= dhi;
        vlo ^= dlo;
      } else if (trailing < 32) {
        vhi ^= (dhi << trailing) | (dlo >>> (32 - trailing));
        vlo ^= dlo << trailing;
      } else {
        vhi ^= dlo << (trailing - 32);
      }
    }
    if (pos > limit) throw truncatedChunk(n, k, count);
    if (t >= minT && t < maxT) {
      ts[len] = t;
      words[2 * len] = vlo;
      words[2 * len + 1] = vhi;
      len++;
    }
    if (++k === count) break;

    // Timestamp: delta of delta.
    w = peek32(b, pos);
    if ((w & 0x80000000) === 0) {
      pos += 1;
    } else if ((w & 0x40000000) === 0) {
      let x = (w >>> 16) & 0x3fff;
      if (x > 0x2000) x -= 0x4000;
      tDelta += x;
      pos += 16;
    } else if ((w & 0x20000000) === 0) {
      let x = (w >>> 12) & 0x1ffff;
      if (x > 0x10000) x -= 0x20000;
      tDelta += x;
      pos += 20;
    } else if ((w & 0x10000000) === 0) {
      let x = (w >>> 8) & 0xfffff;
      if (x > 0x80000) x -= 0x100000;
      tDelta += x;
      pos += 24;
    } else {
      const hi = peek32(b, pos + 4) | 0;
      const lo = peek32(b, pos + 36) >>> 0;
      tDelta += hi * TWO_32 + lo;
      pos += 68;
      if (!Number.isSafeInteger(tDelta))
        throw new DecodeError(`XOR chunk: timestamp delta out of range at sample ${k}`);
    }
    t += tDelta;
  }
  if (!Number.isSafeInteger(t)) throw new DecodeError('XOR chunk: timestamp outside the safe integer range');
  out.length = len;
  return len - start;
}

function truncatedChunk(bytes: number, sample: number, count: number): DecodeError {
  return new DecodeError(`XOR chunk of ${bytes} bytes ends inside sample ${sample} of ${count}`);
}

/** Writes bits MSB first into a growable byte array, 32 bits at a time. */
class BitWriter {
  private buf = new Uint8Array(256);
  /** Bytes flushed to buf. */
  private bytes = 0;
  /** Pending bits, right-aligned (fewer than 32). */
  private acc = 0;
  private accBits = 0;
  /** Whether the last write ended with a whole byte (see finish()). */
  private lastWasBytes = false;

  private flush32(word: number): void {
    if (this.bytes + 4 > this.buf.length) this.grow(this.bytes + 4);
    const buf = this.buf;
    const i = this.bytes;
    buf[i] = word >>> 24;
    buf[i + 1] = word >>> 16;
    buf[i + 2] = word >>> 8;
    buf[i + 3] = word;
    this.bytes = i + 4;
  }

  private grow(need: number): void {
    const next = new Uint8Array(Math.max(need, this.buf.length * 2));
    next.set(this.buf.subarray(0, this.bytes));
    this.buf = next;
  }

  /** Writes the low n bits of v (0 <= n <= 32). */
  bits(v: number, n: number): void {
    if (n === 0) return;
    this.lastWasBytes = (n & 7) === 0;
    if (n < 32) v &= (1 << n) - 1;
    const room = 32 - this.accBits;
    if (n < room) {
      this.acc = (this.acc << n) | v;
      this.accBits += n;
      return;
    }
    const rest = n - room;
    this.flush32(room === 32 ? v : (this.acc << room) | (v >>> rest));
    this.acc = rest === 0 ? 0 : v & ((1 << rest) - 1);
    this.accBits = rest;
  }

  /** Writes the low n bits (0 <= n <= 64) of the 64-bit (hi, lo). */
  bits64(hi: number, lo: number, n: number): void {
    if (n > 32) {
      this.bits(hi, n - 32);
      this.bits(lo, 32);
    } else {
      this.bits(lo, n);
    }
    this.lastWasBytes = (n & 7) === 0;
  }

  /** Writes the uint64 (hi, lo) as a varint of whole bytes. */
  varint(hi: number, lo: number): void {
    hi >>>= 0;
    lo >>>= 0;
    while (hi !== 0 || lo >= 0x80) {
      this.bits((lo & 0x7f) | 0x80, 8);
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    this.bits(lo, 8);
  }

  /**
   * The bytes as Prometheus' bstream holds them: its byte writes always append a fresh byte,
   * so a stream ending on a byte boundary after a whole-byte write carries one more zero byte.
   */
  finish(): Uint8Array {
    const tail = (this.accBits + 7) >>> 3;
    const extra = this.accBits % 8 === 0 && this.lastWasBytes ? 1 : 0;
    const total = this.bytes + tail + extra;
    if (total > this.buf.length) this.grow(total);
    const word = this.accBits === 0 ? 0 : this.acc << (32 - this.accBits);
    for (let k = 0; k < tail + extra; k++) this.buf[this.bytes + k] = k < 4 ? word >>> (24 - 8 * k) : 0;
    return this.buf.slice(0, total);
  }
}

function split(n: number): [number, number] {
  // Two's complement 64-bit halves of an integer within ±2^63.
  if (n >= 0) return [Math.floor(n / TWO_32) >>> 0, n >>> 0];
  const m = -n;
  let hi = ~(Math.floor(m / TWO_32) >>> 0) >>> 0;
  let lo = ~(m >>> 0) >>> 0;
  lo = (lo + 1) >>> 0;
  if (lo === 0) hi = (hi + 1) >>> 0;
  return [hi, lo];
}

function fitsBits(x: number, n: number): boolean {
  const half = 2 ** (n - 1);
  return x >= -(half - 1) && x <= half;
}

/**
 * Encodes samples [from, to) (at most 65535, timestamps safe integers, ascending as
 * Prometheus requires) as one XOR chunk, byte for byte as Prometheus' appender would.
 */
export function encodeXorChunk(
  timestamps: Float64Array,
  values: Float64Array,
  from = 0,
  to = timestamps.length,
): Uint8Array {
  const count = to - from;
  if (count < 0 || count > 0xffff) throw new RangeError(`an XOR chunk holds 0..65535 samples, not ${count}`);
  const words = wordsOf(values);
  // Prometheus' empty chunk is the 2-byte header alone.
  if (count === 0) return new Uint8Array(2);
  const w = new BitWriter();
  w.bits(count >>> 8, 8);
  w.bits(count & 0xff, 8);
  let prevT = 0;
  let prevDelta = 0;
  let vhi = 0;
  let vlo = 0;
  let leading = 0xff;
  let trailing = 0;
  for (let k = 0; k < count; k++) {
    const i = from + k;
    const t = timestamps[i]!;
    if (!Number.isSafeInteger(t)) throw new RangeError(`timestamp ${t} is not a safe integer`);
    const hi = words[2 * i + 1]!;
    const lo = words[2 * i]!;
    if (k === 0) {
      // Zig-zag: (t << 1) ^ (t >> 63).
      const [thi, tlo] = split(t);
      const neg = (thi & 0x80000000) !== 0;
      let zhi = ((thi << 1) | (tlo >>> 31)) >>> 0;
      let zlo = (tlo << 1) >>> 0;
      if (neg) {
        zhi = ~zhi >>> 0;
        zlo = ~zlo >>> 0;
      }
      w.varint(zhi, zlo);
      w.bits64(hi, lo, 64);
      prevT = t;
      vhi = hi;
      vlo = lo;
      continue;
    }
    const delta = t - prevT;
    if (k === 1) {
      const [dhi, dlo] = split(delta);
      w.varint(dhi, dlo);
    } else {
      const dod = delta - prevDelta;
      if (dod === 0) w.bits(0, 1);
      else if (fitsBits(dod, 14)) {
        w.bits(0b10, 2);
        w.bits(dod, 14);
      } else if (fitsBits(dod, 17)) {
        w.bits(0b110, 3);
        w.bits(dod, 17);
      } else if (fitsBits(dod, 20)) {
        w.bits(0b1110, 4);
        w.bits(dod, 20);
      } else {
        w.bits(0b1111, 4);
        const [dhi, dlo] = split(dod);
        w.bits64(dhi, dlo, 64);
      }
    }
    prevDelta = delta;
    prevT = t;

    // Value.
    const xhi = (hi ^ vhi) >>> 0;
    const xlo = (lo ^ vlo) >>> 0;
    vhi = hi;
    vlo = lo;
    if (xhi === 0 && xlo === 0) {
      w.bits(0, 1);
      continue;
    }
    w.bits(1, 1);
    let newLeading = xhi !== 0 ? Math.clz32(xhi) : 32 + Math.clz32(xlo);
    const newTrailing = xlo !== 0 ? ctz32(xlo) : 32 + ctz32(xhi);
    if (newLeading >= 32) newLeading = 31;
    if (leading !== 0xff && newLeading >= leading && newTrailing >= trailing) {
      w.bits(0, 1);
      writeShifted(w, xhi, xlo, trailing, 64 - leading - trailing);
      continue;
    }
    leading = newLeading;
    trailing = newTrailing;
    w.bits(1, 1);
    w.bits(leading, 5);
    const sig = 64 - leading - trailing;
    w.bits(sig & 0x3f, 6);
    writeShifted(w, xhi, xlo, trailing, sig);
  }
  return w.finish();
}

function ctz32(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/** Writes the n low bits of (hi, lo) >> shift. */
function writeShifted(w: BitWriter, hi: number, lo: number, shift: number, n: number): void {
  let shi: number;
  let slo: number;
  if (shift === 0) {
    shi = hi;
    slo = lo;
  } else if (shift < 32) {
    slo = ((lo >>> shift) | (hi << (32 - shift))) >>> 0;
    shi = hi >>> shift;
  } else {
    slo = hi >>> (shift - 32);
    shi = 0;
  }
  w.bits64(shi, slo, n);
}

export interface EncodedChunk {
  readonly minTimeMs: number;
  readonly maxTimeMs: number;
  readonly data: Uint8Array;
}

/** Cuts samples into XOR chunks of at most `perChunk` samples, as Prometheus' head does. */
export function encodeXorChunks(
  timestamps: Float64Array,
  values: Float64Array,
  perChunk = SAMPLES_PER_CHUNK,
): EncodedChunk[] {
  const out: EncodedChunk[] = [];
  for (let from = 0; from < timestamps.length; from += perChunk) {
    const to = Math.min(timestamps.length, from + perChunk);
    out.push({
      minTimeMs: timestamps[from]!,
      maxTimeMs: timestamps[to - 1]!,
      data: encodeXorChunk(timestamps, values, from, to),
    });
  }
  return out;
}
