/**
 * Value decoder of one segment, the twin of values-encode.ts. See docs/FORMAT.md.
 *
 * Values stored as bits are copied as bytes or 32-bit words, so NaN payloads survive. Decoded
 * numbers come only from integer arithmetic on mantissas, never NaN.
 */
import { ByteReader, corrupt } from './bytes';
import {
  MAX_EXPONENT,
  ORDER_CONST,
  P_CORRECTIONS,
  P_EXCEPTIONS,
  P_ORDER_SHIFT,
  POW10,
  ValueKind,
} from './values-format';
import * as format from './values-format';

// Read once into module constants: a per-file transpiler (tsx) turns each use of an imported
// binding into getter calls, which the per-sample loops must not pay.
const { INT_LIMIT, MAX_CORRECTION, TWO32 } = format;

/** Readers over the value streams of one block. */
export class ValueReaders {
  constructor(
    readonly meta: ByteReader,
    readonly ints: ByteReader,
    readonly exc: ByteReader,
    readonly corr: ByteReader,
    readonly raw: ByteReader,
    readonly intPlanes: ByteReader[],
    readonly planes: ByteReader[],
  ) {}

  /** Every stream must be consumed exactly. */
  checkConsumed(): void {
    for (const r of [this.meta, this.ints, this.exc, this.corr, this.raw, ...this.intPlanes, ...this.planes]) {
      if (!r.atEnd()) throw corrupt(`${r.what} has ${r.remaining} unread bytes`);
    }
  }
}

/** Decodes the next segment's n values into a new Float64Array. */
export function decodeValues(r: ValueReaders, n: number): Float64Array {
  const out = new Float64Array(n);
  const u8 = new Uint8Array(out.buffer);
  const kind = r.meta.u8();
  switch (kind) {
    case ValueKind.ConstInt: {
      const v = r.ints.svarint();
      if (!(v > -INT_LIMIT && v < INT_LIMIT)) throw corrupt('constant out of range');
      out.fill(v);
      return out;
    }
    case ValueKind.ConstRaw: {
      const src = r.raw.take(8);
      for (let i = 0; i < n; i++) u8.set(src, i * 8);
      return out;
    }
    case ValueKind.Int:
      return decodeInt(r, n, out, u8);
    case ValueKind.FloatXor: {
      const u32 = new Uint32Array(out.buffer);
      // Indexed, not destructured: array destructuring goes through the iterator protocol, whose
      // maps differ between the first call and later ones (a deopt of every caller inlining this).
      const planes = r.planes;
      const b0 = (planes[0] as ByteReader).take(n);
      const b1 = (planes[1] as ByteReader).take(n);
      const b2 = (planes[2] as ByteReader).take(n);
      const b3 = (planes[3] as ByteReader).take(n);
      const b4 = (planes[4] as ByteReader).take(n);
      const b5 = (planes[5] as ByteReader).take(n);
      const b6 = (planes[6] as ByteReader).take(n);
      const b7 = (planes[7] as ByteReader).take(n);
      let lo = 0;
      let hi = 0;
      for (let i = 0; i < n; i++) {
        hi ^=
          (((b0[i] as number) << 24) | ((b1[i] as number) << 16) | ((b2[i] as number) << 8) | (b3[i] as number)) >>> 0;
        lo ^=
          (((b4[i] as number) << 24) | ((b5[i] as number) << 16) | ((b6[i] as number) << 8) | (b7[i] as number)) >>> 0;
        u32[2 * i] = lo;
        u32[2 * i + 1] = hi;
      }
      return out;
    }
    default:
      throw corrupt(`unknown value kind ${kind}`);
  }
}

function decodeInt(r: ValueReaders, n: number, out: Float64Array, u8: Uint8Array): Float64Array {
  const params = r.meta.u8();
  const e = params & 0x0f;
  const order = (params >> P_ORDER_SHIFT) & 0x03;
  const hasExc = (params & P_EXCEPTIONS) !== 0;
  const hasCorr = (params & P_CORRECTIONS) !== 0;
  if (e > MAX_EXPONENT) throw corrupt('bad integer codec parameters');
  const g = order === 1 || order === 2 ? r.meta.uvarint() : 1;
  if (g === 0) throw corrupt('zero divisor');
  // Exception positions first: they tell which samples the mantissas skip.
  let excPos: Int32Array | undefined;
  if (hasExc) {
    const nExc = r.exc.uvarint();
    if (nExc === 0 || nExc >= n) throw corrupt('bad exception count');
    excPos = new Int32Array(nExc);
    let pos = -1;
    for (let j = 0; j < nExc; j++) {
      pos += r.exc.uvarint() + 1;
      if (pos >= n) throw corrupt('exception position out of range');
      excPos[j] = pos;
      u8.set(r.raw.take(8), pos * 8);
    }
  }
  const k = n - (excPos ? excPos.length : 0);
  // Differences from the byte planes, zigzag-decoded.
  let xs: Float64Array | undefined;
  if (order !== ORDER_CONST) {
    const w = r.meta.u8();
    if (w > 7) throw corrupt('bad integer width');
    const planes: Uint8Array[] = [];
    const count = k - 1;
    for (let b = 0; b < w; b++) planes.push((r.intPlanes[b] as ByteReader).take(count));
    xs = w <= 4 ? unzigzag32(planes, count) : unzigzagWide(planes, count);
  }
  const p = POW10[e] as number;
  const m = r.ints.svarint();
  if (!excPos && !hasCorr) {
    decodeMantissas(out, m, xs, order, g);
    // Scaled in a pass of its own, only where there is a scale: most integer series have none,
    // and a division per sample was the costliest part of their decoding.
    if (p !== 1) divideAll(out, p);
    return out;
  }
  decodePatched(r.corr, out, m, xs, order, g, p, excPos, hasCorr);
  return out;
}

/**
 * A segment with exceptions or corrections: the general loop, in a function of its own so that
 * decodeInt stays small to compile and is not recompiled when the first such segment arrives.
 */
function decodePatched(
  corr: ByteReader,
  out: Float64Array,
  first: number,
  xs: Float64Array | undefined,
  order: number,
  g: number,
  p: number,
  excPos: Int32Array | undefined,
  hasCorr: boolean,
): void {
  const n = out.length;
  let m = first;
  const u32 = hasCorr ? new Uint32Array(out.buffer) : undefined;
  let d = 0;
  let nextExc = excPos ? (excPos[0] as number) : -1;
  let j = 0;
  let idx = -1;
  for (let i = 0; i < n; i++) {
    if (i === nextExc) {
      j++;
      nextExc = excPos && j < excPos.length ? (excPos[j] as number) : -1;
      continue;
    }
    if (idx >= 0 && xs) {
      const x = xs[idx] as number;
      if (order === 1) m += g * x;
      else if (order === 2) {
        d += g * x;
        m += d;
      } else m = x;
    }
    idx++;
    if (!(m > -INT_LIMIT && m < INT_LIMIT)) throw corrupt('mantissa out of range');
    // p is 1 for e = 0, and m / 1 is m exactly.
    out[i] = m / p;
    if (u32) {
      // Add the correction to the 64-bit pattern (low word first, with carry).
      const c = corr.svarint();
      if (c < -MAX_CORRECTION || c > MAX_CORRECTION) throw corrupt('correction out of range');
      const lo = (u32[2 * i] as number) + c;
      const carry = Math.floor(lo / TWO32);
      u32[2 * i] = lo - carry * TWO32;
      u32[2 * i + 1] = ((u32[2 * i + 1] as number) + carry) >>> 0;
    }
  }
}

/**
 * The mantissas of a common segment (no exceptions, no corrections), unscaled: one loop per
 * order, so the hot loop has no per-sample branching on the codec's parameters.
 */
function decodeMantissas(
  out: Float64Array,
  first: number,
  xs: Float64Array | undefined,
  order: number,
  g: number,
): void {
  const n = out.length;
  let m = first;
  if (!(m > -INT_LIMIT && m < INT_LIMIT)) throw corrupt('mantissa out of range');
  out[0] = m;
  if (!xs) {
    out.fill(m);
    return;
  }
  if (order === 1) {
    for (let i = 1; i < n; i++) {
      m += g * (xs[i - 1] as number);
      if (!(m > -INT_LIMIT && m < INT_LIMIT)) throw corrupt('mantissa out of range');
      out[i] = m;
    }
  } else if (order === 2) {
    let d = 0;
    for (let i = 1; i < n; i++) {
      d += g * (xs[i - 1] as number);
      m += d;
      if (!(m > -INT_LIMIT && m < INT_LIMIT)) throw corrupt('mantissa out of range');
      out[i] = m;
    }
  } else {
    for (let i = 1; i < n; i++) {
      m = xs[i - 1] as number;
      if (!(m > -INT_LIMIT && m < INT_LIMIT)) throw corrupt('mantissa out of range');
      out[i] = m;
    }
  }
}

function divideAll(out: Float64Array, p: number): void {
  for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) / p;
}

/**
 * Little-endian byte planes of at most 4 bytes, zigzag-decoded in 32-bit integer arithmetic. The
 * result is a Float64Array like unzigzagWide's, so the loops that read it see one array type
 * and one number representation (mixed ones cost a deopt and a recompile of the decoder).
 */
function unzigzag32(planes: readonly Uint8Array[], count: number): Float64Array {
  const xs = new Float64Array(count);
  const w = planes.length;
  if (w === 0) return xs;
  // A single pass, with a loop written for each width, instead of one pass over xs per plane:
  // each of those converted every element between double and int32 and back, which made this
  // the decoder's costliest loop.
  const p0 = planes[0] as Uint8Array;
  const p1 = planes[w > 1 ? 1 : 0] as Uint8Array;
  const p2 = planes[w > 2 ? 2 : 0] as Uint8Array;
  const p3 = planes[w > 3 ? 3 : 0] as Uint8Array;
  if (w === 1) {
    for (let i = 0; i < count; i++) {
      const z = p0[i] as number;
      xs[i] = (z >>> 1) ^ -(z & 1);
    }
  } else if (w === 2) {
    for (let i = 0; i < count; i++) {
      const z = (p0[i] as number) | ((p1[i] as number) << 8);
      xs[i] = (z >>> 1) ^ -(z & 1);
    }
  } else if (w === 3) {
    for (let i = 0; i < count; i++) {
      const z = (p0[i] as number) | ((p1[i] as number) << 8) | ((p2[i] as number) << 16);
      xs[i] = (z >>> 1) ^ -(z & 1);
    }
  } else {
    for (let i = 0; i < count; i++) {
      const z = (p0[i] as number) | ((p1[i] as number) << 8) | ((p2[i] as number) << 16) | ((p3[i] as number) << 24);
      xs[i] = (z >>> 1) ^ -(z & 1);
    }
  }
  return xs;
}

/** Byte planes of 5 to 7 bytes: past 32 bits, so in float arithmetic (exact below 2^53). */
function unzigzagWide(planes: readonly Uint8Array[], count: number): Float64Array {
  const xs = new Float64Array(count);
  // Read before the loops: code after a hot loop is unseen by its compiled version (a deopt).
  const low = planes[0] as Uint8Array;
  for (let b = 0; b < planes.length; b++) {
    const plane = planes[b] as Uint8Array;
    const mul = 2 ** (8 * b);
    for (let i = 0; i < count; i++) xs[i] = (xs[i] as number) + (plane[i] as number) * mul;
  }
  for (let i = 0; i < count; i++) {
    const z = xs[i] as number;
    if (z > Number.MAX_SAFE_INTEGER) throw corrupt('integer difference out of range');
    xs[i] = ((low[i] as number) & 1) === 0 ? z / 2 : -(z + 1) / 2;
  }
  return xs;
}
