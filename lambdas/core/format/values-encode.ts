/**
 * Value encoder of one segment (the samples of one series inside one block): chooses the kind
 * that stores the segment in the fewest bytes. See docs/FORMAT.md; values-decode.ts reads it back.
 *
 * Values are read as numbers only to classify them; every value that is stored as bits (constants
 * that are not small integers, exceptions, XOR floats) is copied as bytes or 32-bit words, so NaN
 * payloads survive.
 */
import { ByteWriter } from './bytes';
import { ORDER_CONST, ORDER_PLAIN, P_CORRECTIONS, P_EXCEPTIONS, P_ORDER_SHIFT, ValueKind } from './values-format';
import * as format from './values-format';

// Read once into module constants: a per-file transpiler (tsx) turns each use of an imported
// binding into getter calls, which the per-sample loops must not pay.
const { INT_LIMIT, MAX_CORRECTION, MAX_EXPONENT, POW10, TWO32 } = format;

const NONE = 255;

/** Streams of one block that carry values, in the order they are written to the block. */
export class ValueStreams {
  readonly meta = new ByteWriter(256);
  readonly ints = new ByteWriter(4096);
  readonly exc = new ByteWriter(256);
  readonly corr = new ByteWriter(256);
  readonly raw = new ByteWriter(256);
  /** Bytes of zigzagged mantissa differences, least significant first (ValueKind.Int). */
  readonly intPlanes = Array.from({ length: 7 }, () => new ByteWriter(4096));
  /** Bytes of XORed values, most significant first (ValueKind.FloatXor). */
  readonly planes = Array.from({ length: 8 }, () => new ByteWriter(1024));

  all(): ByteWriter[] {
    return [this.meta, this.ints, this.exc, this.corr, this.raw, ...this.intPlanes, ...this.planes];
  }
}

/** Encoder choices; every combination produces a valid v1 stream. */
export interface ValueTuning {
  /** Store decimals (v = m / 10^e) as integers. */
  readonly decimal: boolean;
  /** Store floats that are near decimals as decimal mantissas plus a correction of their bits. */
  readonly corrections: boolean;
  /** Allow exceptions (samples stored as raw bits) inside integer segments. */
  readonly exceptions: boolean;
  /** Largest share of exceptions before a segment falls back to XOR floats. */
  readonly maxExceptionShare: number;
  /** Divide differences by their greatest common divisor. */
  readonly gcd: boolean;
  /** Mantissa orders to choose from (by varint size): 1 delta, 2 delta-of-delta, 3 plain. */
  readonly orders: readonly number[];
  /**
   * Delta-of-delta (or plain) must estimate below this share of delta's bytes to be chosen: on
   * noise, varint sizes favour delta-of-delta although it compresses worse.
   */
  readonly orderGain: number;
}

export const DEFAULT_VALUE_TUNING: ValueTuning = {
  decimal: true,
  corrections: true,
  exceptions: true,
  maxExceptionShare: 0.5,
  gcd: true,
  orders: [1, 2],
  orderGain: 0.8,
};

/** Smallest e such that v == round(v * 10^e) / 10^e with a mantissa below INT_LIMIT, or NONE. */
function needExponent(v: number, maxE: number): number {
  if (!(v > -INT_LIMIT && v < INT_LIMIT)) return NONE; // NaN, infinities, huge
  if (Math.floor(v) === v) return v === 0 && 1 / v < 0 ? NONE : 0; // -0 is an exception
  for (let e = 1; e <= maxE; e++) {
    const p = POW10[e] as number;
    const m = Math.round(v * p);
    if (!(m > -INT_LIMIT && m < INT_LIMIT)) return NONE;
    if (m / p === v) return e;
  }
  return NONE;
}

function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/** Mantissas, exceptions and maybe corrections of one way to store a segment as ValueKind.Int. */
class IntCandidate {
  readonly mant: Float64Array;
  readonly corr: Float64Array;
  readonly excPos: Int32Array;
  e = 0;
  k = 0;
  nExc = 0;
  corrections = false;
  // g and cost hold doubles (g can pass 2^31, cost has fractions). Starting them as doubles keeps
  // V8 from changing the fields' representation mid-run, which deoptimized the hot encoder
  // ("wrong map") dozens of times per shard.
  g = 1.5;
  order = 1;
  /** Estimated compressed bytes. */
  cost = 0.5;
  /** Estimated bytes of the differences with order 1, order 2 and of the plain mantissas. */
  readonly orderCosts = new Float64Array(3);

  constructor(capacity: number, corrections: boolean) {
    this.mant = new Float64Array(capacity);
    this.corr = new Float64Array(corrections ? capacity : 0);
    this.excPos = new Int32Array(capacity);
  }
}

/** Scratch space reused across segments of a block. */
export class ValueScratch {
  readonly need: Uint8Array;
  readonly hist = new Int32Array(MAX_EXPONENT + 2);
  readonly exact: IntCandidate;
  readonly inexact: IntCandidate;
  /** Zigzagged differences as low and high 32-bit words (for writeInt). */
  readonly zlo: Uint32Array;
  readonly zhi: Uint32Array;
  /** One double and its two words, to read the bits of a computed value. */
  readonly one = new Float64Array(1);
  readonly oneWords = new Uint32Array(this.one.buffer);

  constructor(capacity: number) {
    this.need = new Uint8Array(capacity);
    this.exact = new IntCandidate(capacity, false);
    this.inexact = new IntCandidate(capacity, true);
    this.zlo = new Uint32Array(capacity);
    this.zhi = new Uint32Array(capacity);
  }
}

/**
 * Encodes values[start .. start+n) (f64/u32/u8 are views of one buffer) into the block streams.
 * Returns the kind chosen (for statistics).
 */
export function encodeValues(
  f64: Float64Array,
  u32: Uint32Array,
  u8: Uint8Array,
  start: number,
  n: number,
  s: ValueStreams,
  t: ValueTuning,
  scratch: ValueScratch,
): ValueKind {
  const end = start + n;
  // Constant?
  const lo0 = u32[2 * start] as number;
  const hi0 = u32[2 * start + 1] as number;
  let constant = true;
  for (let i = start + 1; i < end; i++) {
    if (u32[2 * i] !== lo0 || u32[2 * i + 1] !== hi0) {
      constant = false;
      break;
    }
  }
  if (constant) {
    if (needExponent(f64[start] as number, 0) === 0) {
      s.meta.u8(ValueKind.ConstInt);
      s.ints.svarint(f64[start] as number);
      return ValueKind.ConstInt;
    }
    s.meta.u8(ValueKind.ConstRaw);
    s.raw.raw8(u8, start * 8);
    return ValueKind.ConstRaw;
  }

  const exact = exactCandidate(f64, u32, start, n, t, scratch);
  // The common case: integers or short decimals without exceptions.
  if (exact && exact.nExc === 0 && exact.e < 10) {
    writeInt(u8, start, s, exact, scratch);
    return ValueKind.Int;
  }
  let best: IntCandidate | null = exact;
  if (t.corrections && t.decimal) {
    const inexact = inexactCandidate(f64, u32, start, n, t, scratch, best ? best.cost : Infinity);
    if (inexact && (!best || inexact.cost < best.cost)) best = inexact;
  }
  if (best && best.cost <= xorCost(u32, start, n)) {
    writeInt(u8, start, s, best, scratch);
    return ValueKind.Int;
  }
  encodeFloatXor(u32, start, n, s);
  return ValueKind.FloatXor;
}

/** Exact decimals v = m / 10^e with the cheapest e; samples needing more become exceptions. */
function exactCandidate(
  f64: Float64Array,
  u32: Uint32Array,
  start: number,
  n: number,
  t: ValueTuning,
  scratch: ValueScratch,
): IntCandidate | null {
  const c = scratch.exact;
  // Fast path: all samples are integers in range (counters, most gauges).
  {
    const mant = c.mant;
    let i = 0;
    for (; i < n; i++) {
      const v = f64[start + i] as number;
      if (!(Math.floor(v) === v && v > -INT_LIMIT && v < INT_LIMIT && (v !== 0 || 1 / v > 0))) break;
      mant[i] = v;
    }
    if (i === n) {
      c.e = 0;
      c.k = n;
      c.nExc = 0;
      c.corrections = false;
      planInt(c, t);
      return c;
    }
  }
  const maxE = t.decimal ? MAX_EXPONENT : 0;
  const maxExc = t.exceptions ? Math.floor(n * t.maxExceptionShare) : 0;
  const need = scratch.need;
  const hist = scratch.hist.fill(0);
  let none = 0;
  let maxNeed = 0;
  for (let i = 0; i < n; i++) {
    const v = f64[start + i] as number;
    // Fast path for integers, the common case.
    let e: number;
    if (Math.floor(v) === v && v > -INT_LIMIT && v < INT_LIMIT && (v !== 0 || 1 / v > 0)) e = 0;
    else e = needExponent(v, maxE);
    need[i] = e;
    if (e === NONE) {
      if (++none > maxExc) return null;
    } else {
      hist[e]!++;
      if (e > maxNeed) maxNeed = e;
    }
  }
  // Choose the exponent: each exception costs ~9 bytes, each extra digit ~0.42 bytes per sample.
  let bestE = -1;
  let bestCost = Infinity;
  let above = 0; // samples needing more than e
  for (let e = maxNeed; e >= 0; e--) {
    const exc = none + above;
    if (exc <= maxExc) {
      const cost = exc * 9 + (n - exc) * e * 0.42;
      if (cost <= bestCost) {
        bestCost = cost;
        bestE = e;
      }
    }
    above += hist[e] as number;
  }
  if (bestE < 0) return null;
  const p = POW10[bestE] as number;
  const mant = c.mant;
  const excPos = c.excPos;
  let k = 0;
  let nExc = 0;
  for (let i = 0; i < n; i++) {
    if ((need[i] as number) <= bestE) {
      const v = f64[start + i] as number;
      const m = bestE === 0 ? v : Math.round(v * p) + 0;
      if (m > -INT_LIMIT && m < INT_LIMIT && (bestE === 0 || m / p === v)) {
        mant[k++] = m;
        continue;
      }
    }
    excPos[nExc++] = i;
  }
  if (k === 0 || nExc > maxExc) return null;
  c.e = bestE;
  c.k = k;
  c.nExc = nExc;
  c.corrections = false;
  planInt(c, t);
  if (nExc > 0) c.cost += exceptionCost(u32, start, excPos, nExc);
  return c;
}

/**
 * Near decimals: m = round(v * 10^e) plus a small correction of the bits of m / 10^e (sums of
 * durations with rounding noise). The exponent is chosen on a prefix of the segment.
 */
function inexactCandidate(
  f64: Float64Array,
  u32: Uint32Array,
  start: number,
  n: number,
  t: ValueTuning,
  scratch: ValueScratch,
  toBeat: number,
): IntCandidate | null {
  const probe = Math.min(n, 128);
  let bestE = -1;
  let bestCost = Math.min(xorCost(u32, start, probe), (toBeat * probe) / n);
  for (let e = 0; e <= MAX_EXPONENT; e++) {
    const p = POW10[e] as number;
    let cost = 0;
    let c1 = 0;
    let c2 = 0;
    let prev = 0;
    let prevD = 0;
    for (let i = 0; i < probe && cost + Math.min(c1, c2) < bestCost; i++) {
      const v = f64[start + i] as number;
      const m = Math.round(v * p) + 0; // + 0 turns -0 into +0, as the decoder sees it
      const c =
        m > -INT_LIMIT && m < INT_LIMIT
          ? correction(u32[2 * (start + i)] as number, u32[2 * (start + i) + 1] as number, m, p, scratch)
          : NaN;
      if (c !== c) {
        cost += 9;
        continue;
      }
      cost += varintCost(c);
      if (i > 0) {
        c1 += varintCost(m - prev);
        c2 += varintCost(m - prev - prevD);
        prevD = m - prev;
      }
      prev = m;
    }
    cost += Math.min(c1, c2);
    if (cost < bestCost) {
      bestCost = cost;
      bestE = e;
    }
  }
  if (bestE < 0) return null;
  const p = POW10[bestE] as number;
  const maxExc = t.exceptions ? Math.floor(n * t.maxExceptionShare) : 0;
  const c = scratch.inexact;
  const { mant, corr, excPos } = c;
  let k = 0;
  let nExc = 0;
  let corrCost = 0;
  for (let i = 0; i < n; i++) {
    const v = f64[start + i] as number;
    const m = Math.round(v * p) + 0; // + 0 turns -0 into +0, as the decoder sees it
    // -0 and NaN have no mantissa; -0 would need a correction of 2^63.
    if (m > -INT_LIMIT && m < INT_LIMIT && (v !== 0 || 1 / v > 0)) {
      const x = correction(u32[2 * (start + i)] as number, u32[2 * (start + i) + 1] as number, m, p, scratch);
      if (x === x) {
        mant[k] = m;
        corr[k++] = x;
        corrCost += varintCost(x);
        continue;
      }
    }
    excPos[nExc++] = i;
    if (nExc > maxExc) return null;
  }
  if (k === 0) return null;
  c.e = bestE;
  c.k = k;
  c.nExc = nExc;
  c.corrections = true;
  planInt(c, t);
  c.cost += corrCost + exceptionCost(u32, start, excPos, nExc);
  return c;
}

/** Bits of v minus bits of m / 10^e as 64-bit integers, or NaN when not small. */
function correction(lo: number, hi: number, m: number, p: number, scratch: ValueScratch): number {
  scratch.one[0] = m / p;
  const w = scratch.oneWords;
  const c = (hi - (w[1] as number)) * TWO32 + (lo - (w[0] as number));
  return c >= -MAX_CORRECTION && c <= MAX_CORRECTION ? c : NaN;
}

/** Estimated compressed bytes of a signed varint: zeros (runs of equal values) cost little. */
function varintCost(v: number): number {
  if (v === 0) return 0.25;
  if (v >= -0x40000000 && v < 0x40000000) {
    // 1 byte per started 7 bits of the 32-bit zigzag.
    return ((38 - Math.clz32((v << 1) ^ (v >> 31))) / 7) | 0;
  }
  const z = v >= 0 ? v * 2 : -v * 2 - 1;
  return z < 0x80
    ? 1
    : z < 0x4000
      ? 2
      : z < 0x200000
        ? 3
        : z < 0x10000000
          ? 4
          : z < 0x800000000
            ? 5
            : z < 0x40000000000
              ? 6
              : 7;
}

/** Estimated bytes of exceptions: a repeat of the previous exception's bits compresses to ~1 byte. */
function exceptionCost(u32: Uint32Array, start: number, excPos: Int32Array, nExc: number): number {
  let cost = 0;
  let plo = -1;
  let phi = -1;
  for (let j = 0; j < nExc; j++) {
    const i = start + (excPos[j] as number);
    const lo = u32[2 * i] as number;
    const hi = u32[2 * i + 1] as number;
    cost += lo === plo && hi === phi ? 2 : 9;
    plo = lo;
    phi = hi;
  }
  return cost;
}

/** Estimated bytes of XOR for the samples (first to last non-zero byte of each XOR). */
function xorCost(u32: Uint32Array, start: number, n: number): number {
  let cost = 8;
  for (let i = 1; i < n; i++) {
    const xl = ((u32[2 * (start + i)] as number) ^ (u32[2 * (start + i - 1)] as number)) >>> 0;
    const xh = ((u32[2 * (start + i) + 1] as number) ^ (u32[2 * (start + i - 1) + 1] as number)) >>> 0;
    if (xh === 0 && xl === 0) {
      cost += 0.25;
      continue;
    }
    const lead = xh !== 0 ? Math.clz32(xh) >> 3 : 4 + (Math.clz32(xl) >> 3);
    const trail = xl !== 0 ? (31 - Math.clz32(xl & -xl)) >> 3 : 4 + ((31 - Math.clz32(xh & -xh)) >> 3);
    cost += 8 - lead - trail;
  }
  return cost;
}

/** Chooses divisor and order for c.mant[0..k): gcd of the differences, fewest estimated bytes. */
function planInt(c: IntCandidate, t: ValueTuning): void {
  const mant = c.mant;
  const k = c.k;
  let g = 0;
  if (t.gcd) {
    for (let i = 1; i < k; i++) {
      const d = Math.abs((mant[i] as number) - (mant[i - 1] as number));
      if (d !== 0) {
        g = g === 0 ? d : gcd(g, d);
        if (g === 1) break;
      }
    }
  } else {
    for (let i = 1; i < k; i++) {
      if (mant[i] !== mant[i - 1]) {
        g = 1;
        break;
      }
    }
  }
  const c0 = varintCost(mant[0] as number);
  if (g === 0) {
    c.g = 1;
    c.order = ORDER_CONST;
    c.cost = c0;
    return;
  }
  measureOrders(c, g, t.orders.includes(3));
  const c1 = c.orderCosts[0] as number;
  const c2 = c.orderCosts[1] as number;
  const c3 = c.orderCosts[2] as number;
  let order = 1;
  let best = c1;
  if (t.orders.includes(2) && c2 < c1 * t.orderGain && c2 < best) {
    best = c2;
    order = 2;
  }
  if (t.orders.includes(3) && c3 < c1 * t.orderGain && c3 < best) {
    best = c3;
    order = ORDER_PLAIN;
  }
  c.g = g;
  c.order = order;
  c.cost = c0 + best;
}

/**
 * The cost loop of planInt, in a function of its own: the code after a hot loop is unseen by
 * the loop's compiled version, and planInt was deoptimised there several times per run.
 */
function measureOrders(c: IntCandidate, g: number, plain: boolean): void {
  const mant = c.mant;
  let c1 = 0;
  let c2 = 0;
  let c3 = 0;
  let prevD = 0;
  for (let i = 1; i < c.k; i++) {
    let d = (mant[i] as number) - (mant[i - 1] as number);
    if (g !== 1) d /= g;
    c1 += varintCost(d);
    c2 += varintCost(d - prevD);
    if (plain) c3 += varintCost(mant[i] as number);
    prevD = d;
  }
  c.orderCosts[0] = c1;
  c.orderCosts[1] = c2;
  c.orderCosts[2] = c3;
}

/** Bytes needed for a 32-bit value (0 for 0). */
function byteWidth(v: number): number {
  return v === 0 ? 0 : v < 0x100 ? 1 : v < 0x10000 ? 2 : v < 0x1000000 ? 3 : 4;
}

/**
 * Writes a ValueKind.Int segment. Each loop lives in a function of its own: V8 compiles a hot
 * loop on its own (on-stack replacement), and code after a loop that the loop's compiled code
 * has never seen run costs a deoptimization every time, which profiling showed dominated cold runs.
 */
function writeInt(u8: Uint8Array, start: number, s: ValueStreams, c: IntCandidate, scratch: ValueScratch): void {
  const { g, order, k, nExc } = c;
  s.meta.u8(ValueKind.Int);
  s.meta.u8(c.e | (order << P_ORDER_SHIFT) | (nExc > 0 ? P_EXCEPTIONS : 0) | (c.corrections ? P_CORRECTIONS : 0));
  if (order === 1 || order === 2) s.meta.uvarint(g);
  s.ints.svarint(c.mant[0] as number);
  if (order !== ORDER_CONST) {
    // Zigzagged differences (or plain mantissas), split into byte planes of a common width.
    const w = zigzagDifferences(c, scratch.zlo, scratch.zhi);
    s.meta.u8(w);
    for (let b = 0; b < w; b++) writePlane(s.intPlanes[b] as ByteWriter, b < 4 ? scratch.zlo : scratch.zhi, b, k - 1);
  }
  if (c.corrections) writeCorrections(s.corr, c.corr, k);
  if (nExc > 0) writeExceptions(s, u8, start, c.excPos, nExc);
}

/** Zigzagged differences of the mantissas (by order and divisor) as 32-bit words; returns the byte width. */
function zigzagDifferences(c: IntCandidate, zlo: Uint32Array, zhi: Uint32Array): number {
  const { mant, g, order, k } = c;
  let maxHi = 0;
  let maxLo = 0;
  let prevD = 0;
  for (let i = 1; i < k; i++) {
    let x: number;
    if (order === ORDER_PLAIN) x = mant[i] as number;
    else {
      const d = ((mant[i] as number) - (mant[i - 1] as number)) / g;
      x = order === 1 ? d : d - prevD;
      prevD = d;
    }
    if (x >= -0x40000000 && x < 0x40000000) {
      // Small differences, the common case: zigzag in 32-bit integer arithmetic.
      const lo = ((x << 1) ^ (x >> 31)) >>> 0;
      zlo[i - 1] = lo;
      zhi[i - 1] = 0;
      maxLo |= lo;
      continue;
    }
    const z = x >= 0 ? x * 2 : -x * 2 - 1;
    const hi = z >= TWO32 ? Math.floor(z / TWO32) : 0;
    const lo = z - hi * TWO32;
    zlo[i - 1] = lo;
    zhi[i - 1] = hi;
    maxLo |= lo;
    maxHi |= hi;
  }
  return maxHi !== 0 ? 4 + byteWidth(maxHi) : byteWidth(maxLo >>> 0);
}

/** Byte b (least significant first) of each of the first m zigzagged differences. */
function writePlane(pw: ByteWriter, src: Uint32Array, b: number, m: number): void {
  pw.ensure(m);
  const buf = pw.buf;
  const base = pw.pos;
  const shift = (b & 3) * 8;
  for (let i = 0; i < m; i++) buf[base + i] = ((src[i] as number) >>> shift) & 0xff;
  pw.pos = base + m;
}

function writeCorrections(w: ByteWriter, corr: Float64Array, k: number): void {
  for (let i = 0; i < k; i++) w.svarint(corr[i] as number);
}

function writeExceptions(s: ValueStreams, u8: Uint8Array, start: number, excPos: Int32Array, nExc: number): void {
  s.exc.uvarint(nExc);
  let prev = -1;
  for (let j = 0; j < nExc; j++) {
    const pos = excPos[j] as number;
    s.exc.uvarint(pos - prev - 1);
    prev = pos;
    s.raw.raw8(u8, (start + pos) * 8);
  }
}

function encodeFloatXor(u32: Uint32Array, start: number, n: number, s: ValueStreams): void {
  s.meta.u8(ValueKind.FloatXor);
  const planes = s.planes;
  // Indexed, not for-of, map or destructuring: the iterators' maps change after the first call
  // and deoptimise this function (and the encoder inlining it).
  for (let b = 0; b < 8; b++) (planes[b] as ByteWriter).ensure(n);
  const b0 = (planes[0] as ByteWriter).buf;
  const b1 = (planes[1] as ByteWriter).buf;
  const b2 = (planes[2] as ByteWriter).buf;
  const b3 = (planes[3] as ByteWriter).buf;
  const b4 = (planes[4] as ByteWriter).buf;
  const b5 = (planes[5] as ByteWriter).buf;
  const b6 = (planes[6] as ByteWriter).buf;
  const b7 = (planes[7] as ByteWriter).buf;
  const p = planes[0]!.pos;
  let plo = 0;
  let phi = 0;
  for (let i = 0; i < n; i++) {
    const lo = u32[2 * (start + i)] as number;
    const hi = u32[2 * (start + i) + 1] as number;
    const xl = lo ^ plo;
    const xh = hi ^ phi;
    plo = lo;
    phi = hi;
    const q = p + i;
    b0[q] = xh >>> 24;
    b1[q] = (xh >>> 16) & 0xff;
    b2[q] = (xh >>> 8) & 0xff;
    b3[q] = xh & 0xff;
    b4[q] = xl >>> 24;
    b5[q] = (xl >>> 16) & 0xff;
    b6[q] = (xl >>> 8) & 0xff;
    b7[q] = xl & 0xff;
  }
  for (let b = 0; b < 8; b++) (planes[b] as ByteWriter).pos = p + n;
}
