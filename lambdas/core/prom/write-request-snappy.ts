/**
 * A remote-write 1.0 WriteRequest written straight into a snappy block, for where native snappy
 * is not installed (the Lambda bundle), instead of encoding the message and compressing it with
 * snappyjs.
 *
 * A general snappy compressor hashes every position to find repeats. A WriteRequest's repeats are
 * known from its layout: each sample is 18 bytes (tag, length, value tag, the value's 8 bytes,
 * timestamp tag, a 6-byte varint), so a sample repeats the one before it except in the low bytes
 * that changed, and a series scraped with another (same timestamps) repeats that series' sample
 * wherever the values are equal. This writer compares the values and timestamps themselves and
 * emits literals and copies from that, without building the uncompressed message or searching it.
 * Any snappy decoder reads the result. Its bodies are somewhat larger than a searching compressor's
 * and the restore's data path takes less CPU than with snappyjs; against native snappy it saves
 * nothing, and costs more in a cold process (docs/BENCHMARKS.md, "Request bodies without native snappy").
 */
import type { SeriesPiece } from '../types';
import {
  encodeWriteRequest,
  measureLabels,
  SAMPLE_TIMESTAMP,
  SAMPLE_VALUE,
  type Scratch,
  TIMESERIES_LIST,
  TIMESERIES_SAMPLES,
  uvarintSize,
  writeLabels,
  writeUvarint32,
} from './prompb';
import { snappyCompress } from './snappy';
import { TWO_32 } from './varint';

const SAMPLE_BYTES = 18;
// Wire tags bound once here: a per-file transpiler (tsx) would read an import through a getter on
// every use, and these are written once per sample.
const SERIES_TAG = TIMESERIES_LIST;
const SAMPLES_TAG = TIMESERIES_SAMPLES;
const VALUE_TAG = SAMPLE_VALUE;
const TIMESTAMP_TAG = SAMPLE_TIMESTAMP;
/** A Sample message's length: its tag and length byte are the 2 of SAMPLE_BYTES that precede it. */
const SAMPLE_MESSAGE_BYTES = SAMPLE_BYTES - 2;
/**
 * The range of `isSixByteTimestamp` in prompb.ts, integer ms in [2^35, 2^42), tested inline:
 * called from another module, the function was a getter call in the per-sample loop (profiled).
 */
const SIX_BYTE_MIN = 0x800000000;
const SIX_BYTE_END = 0x40000000000;
/** How many earlier series of the request are searched for one with the same timestamps. */
const SAME_SCRAPE_LOOKBACK = 16;

/** The varint byte that holds each bit of a timestamp (7 bits per byte). */
const VARINT_BYTE_OF_BIT = Uint8Array.from({ length: 64 }, (_, bit) => Math.floor(bit / 7));

/**
 * The snappy-compressed WriteRequest for `series`, what `snappyCompress(encodeWriteRequest(series))`
 * would send once uncompressed. Series with a timestamp outside 1971-2109 take that slower path.
 */
export function encodeWriteRequestSnappy(series: readonly SeriesPiece[], scratch?: Scratch): Uint8Array {
  const lengths: number[] = [];
  let total = 0;
  let samples = 0;
  for (let s = 0; s < series.length; s++) {
    const piece = series[s]!;
    const n = piece.timestamps.length;
    if (piece.values.length !== n) return snappyCompress(encodeWriteRequest(series, scratch));
    const size = measureLabels(piece.labels, lengths) + SAMPLE_BYTES * n;
    total += 1 + uvarintSize(size) + size;
    samples += n;
  }
  // Copies take fewer bytes than they stand for; literal tags add at most 3 bytes a sample and 5
  // a series; a literal may write up to 19 bytes past its start before the next element lands.
  const bound = 5 + total + 8 * samples + 8 * series.length + 32;
  const out = scratch ? scratch.take(bound) : Buffer.allocUnsafe(bound);
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let o = writeUvarint32(out, 0, total);
  const sampleStarts: number[] = [];
  let u = 0;
  for (let s = 0; s < series.length; s++) {
    const piece = series[s]!;
    const n = piece.timestamps.length;
    const labelBytes = measureLabels(piece.labels, lengths);
    const size = labelBytes + SAMPLE_BYTES * n;
    const head = 1 + uvarintSize(size) + labelBytes;
    o = writeLiteralTag(out, o, head);
    out[o++] = SERIES_TAG;
    o = writeLabels(out, writeUvarint32(out, o, size), piece.labels, lengths);
    u += head;
    sampleStarts.push(u);
    const ref = sameScrape(series, s);
    o =
      ref < 0
        ? writeSamples(out, dv, o, piece, piece, 0)
        : writeSamples(out, dv, o, piece, series[ref]!, u - sampleStarts[ref]!);
    if (o < 0) return snappyCompress(encodeWriteRequest(series, scratch));
    u += SAMPLE_BYTES * n;
  }
  const body = Buffer.allocUnsafe(o);
  out.copy(body, 0, 0, o);
  return body;
}

/** An earlier series of the request with the very same timestamps (a shared column), or -1. */
function sameScrape(series: readonly SeriesPiece[], s: number): number {
  const ts = series[s]!.timestamps;
  if (ts.length === 0) return -1;
  for (let r = s - 1; r >= 0 && r >= s - SAME_SCRAPE_LOOKBACK; r--) {
    const other = series[r]!.timestamps;
    if (other.buffer === ts.buffer && other.byteOffset === ts.byteOffset && other.length === ts.length) return r;
  }
  return -1;
}

/**
 * The samples of one series, as snappy elements from `o`; returns the end, or -1 at the first
 * timestamp that is not a 6-byte varint. Against the previous sample (18 bytes back) the 3 header
 * bytes always repeat, and the value's and the timestamp's high bytes as far as they are equal.
 * Against the same sample of `ref` (`distance` bytes back; `ref` is `piece` when there is none)
 * the whole sample repeats when the values are equal. A repeat shorter than 4 bytes stays in the
 * literal: a copy would cost as much. Literal bytes are written as whole words, and what runs
 * past a literal's end is overwritten by the next element.
 */
function writeSamples(
  out: Buffer,
  dv: DataView,
  o: number,
  piece: SeriesPiece,
  ref: SeriesPiece,
  distance: number,
): number {
  const ts = piece.timestamps;
  const n = ts.length;
  const vw = new Uint32Array(piece.values.buffer, piece.values.byteOffset, 2 * n);
  const rw = new Uint32Array(ref.values.buffer, ref.values.byteOffset, 2 * n);
  const sameScrape = distance !== 0;
  // Bytes ending where the current sample starts that repeat `runOffset` bytes back, not yet written.
  let run = 0;
  let runOffset = SAMPLE_BYTES;
  let pl = 0;
  let ph = 0;
  let plo = 0;
  let phi = 0;
  let pword = 0;
  for (let i = 0; i < n; i++) {
    const t = ts[i]!;
    if (!(t >= SIX_BYTE_MIN && t < SIX_BYTE_END && Math.floor(t) === t)) return -1;
    const lo = t >>> 0;
    const hi = ((t - lo) / TWO_32) | 0;
    const vl = vw[2 * i]!;
    const vh = vw[2 * i + 1]!;
    // The timestamp varint's first 4 bytes, as writeSixByteSamples in prompb.ts writes them.
    const word =
      ((lo & 0x7f) |
        0x80 |
        ((((lo >>> 7) & 0x7f) | 0x80) << 8) |
        ((((lo >>> 14) & 0x7f) | 0x80) << 16) |
        ((((lo >>> 21) & 0x7f) | 0x80) << 24)) >>>
      0;
    if (sameScrape && vl === rw[2 * i] && vh === rw[2 * i + 1]) {
      if (run !== 0 && runOffset !== distance) {
        o = flushRun(out, o, run, runOffset, pword, plo, phi);
        run = 0;
      }
      run += SAMPLE_BYTES;
      runOffset = distance;
    } else if (i === 0) {
      o = writeSampleLiteral(out, dv, o, 0, SAMPLE_BYTES, vl, vh, word, lo, hi);
      run = 0;
    } else {
      const xh = (vh ^ ph) >>> 0;
      // Equal high bytes of the value (little-endian: its last bytes) and of the timestamp.
      const valueSame = xh !== 0 ? Math.clz32(xh) >>> 3 : 4 + (Math.clz32(vl ^ pl) >>> 3);
      const th = hi ^ phi;
      const bit = th !== 0 ? 63 - Math.clz32(th) : 31 - Math.clz32(lo ^ plo);
      const timeSame = bit < 0 ? 6 : 5 - VARINT_BYTE_OF_BIT[bit]!;
      let from: number;
      if (run !== 0 && runOffset !== SAMPLE_BYTES) {
        // A run against the same-scrape series: this sample's header repeats there too.
        o = writeCopy(out, o, runOffset, run + 3);
        from = 3;
        if (valueSame === 8) {
          o = writeCopy(out, o, SAMPLE_BYTES, 9);
          from = 12;
        }
      } else {
        const repeated = run + 3 + (valueSame === 8 ? 9 : 0);
        if (repeated >= 4) {
          o = writeCopy(out, o, SAMPLE_BYTES, repeated);
          from = valueSame === 8 ? 12 : 3;
        } else {
          from = 0;
        }
      }
      if (valueSame >= 3 && valueSame < 8) {
        o = writeSampleLiteral(out, dv, o, from, 11 - valueSame, vl, vh, word, lo, hi);
        o = writeCopy(out, o, SAMPLE_BYTES, valueSame + 1);
        from = 12;
      }
      if (SAMPLE_BYTES - timeSame > from) {
        o = writeSampleLiteral(out, dv, o, from, SAMPLE_BYTES - timeSame, vl, vh, word, lo, hi);
      }
      run = timeSame;
      runOffset = SAMPLE_BYTES;
    }
    pl = vl;
    ph = vh;
    plo = lo;
    phi = hi;
    pword = word;
  }
  return run === 0 ? o : flushRun(out, o, run, runOffset, pword, plo, phi);
}

/**
 * Bytes [from, to) of a sample as one literal; `from` is 0, 3 or 12. Writes whole words from the
 * sample's start, value or timestamp, up to 19 bytes past `o`.
 */
function writeSampleLiteral(
  out: Buffer,
  dv: DataView,
  o: number,
  from: number,
  to: number,
  vl: number,
  vh: number,
  word: number,
  lo: number,
  hi: number,
): number {
  out[o] = (to - from - 1) << 2;
  let p = o + 1;
  if (from === 0) {
    out[p] = SAMPLES_TAG;
    out[p + 1] = SAMPLE_MESSAGE_BYTES;
    out[p + 2] = VALUE_TAG;
    p += 3;
  }
  if (from <= 3) {
    dv.setUint32(p, vl, true);
    dv.setUint32(p + 4, vh, true);
    out[p + 8] = TIMESTAMP_TAG;
    p += 9;
  }
  dv.setUint32(p, word, true);
  out[p + 4] = (lo >>> 28) | ((hi & 0x07) << 4) | 0x80;
  out[p + 5] = hi >>> 3;
  return o + 1 + to - from;
}

/** A pending run: a copy, or when shorter than 4, the previous timestamp's last bytes as a literal. */
function flushRun(out: Buffer, o: number, run: number, offset: number, word: number, lo: number, hi: number): number {
  if (run >= 4) return writeCopy(out, o, offset, run);
  out[o++] = (run - 1) << 2;
  if (run === 3) out[o++] = word >>> 24;
  if (run >= 2) out[o++] = (lo >>> 28) | ((hi & 0x07) << 4) | 0x80;
  out[o++] = hi >>> 3;
  return o;
}

/** The tag of a literal of `len` bytes, which the caller writes next. */
function writeLiteralTag(out: Buffer, o: number, len: number): number {
  const n = len - 1;
  if (n < 60) {
    out[o] = n << 2;
    return o + 1;
  }
  const bytes = n < 0x100 ? 1 : n < 0x10000 ? 2 : n < 0x1000000 ? 3 : 4;
  out[o++] = (59 + bytes) << 2;
  for (let b = 0; b < bytes; b++) out[o++] = (n >>> (8 * b)) & 0xff;
  return o;
}

/** A copy of `len` (at least 4) bytes from `offset` back, in elements of at most 64 bytes. */
function writeCopy(out: Buffer, o: number, offset: number, len: number): number {
  while (len > 0) {
    // Never leave fewer than 4 bytes for the last element.
    const l = len <= 64 ? len : len - 64 < 4 ? 60 : 64;
    if (l <= 11 && offset < 2048) {
      out[o] = ((offset >>> 8) << 5) | ((l - 4) << 2) | 1;
      out[o + 1] = offset & 0xff;
      o += 2;
    } else if (offset < 0x10000) {
      out[o] = ((l - 1) << 2) | 2;
      out[o + 1] = offset & 0xff;
      out[o + 2] = offset >>> 8;
      o += 3;
    } else {
      out[o] = ((l - 1) << 2) | 3;
      dv32(out, o + 1, offset);
      o += 5;
    }
    len -= l;
  }
  return o;
}

function dv32(out: Buffer, o: number, v: number): void {
  out[o] = v & 0xff;
  out[o + 1] = (v >>> 8) & 0xff;
  out[o + 2] = (v >>> 16) & 0xff;
  out[o + 3] = v >>> 24;
}
