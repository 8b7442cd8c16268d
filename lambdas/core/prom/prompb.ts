/**
 * Hand-written codecs for the prompb messages promvault exchanges (see prompb.proto), built on
 * protobufjs' Reader and Writer primitives. Hand-written so that doubles move as raw bytes
 * (NaN payloads such as the staleness marker survive) and the per-sample path allocates nothing.
 *
 * Everything here is synchronous and pure. Decoders throw DecodeError on malformed input.
 */
import { Reader, Writer } from 'protobufjs/minimal';
import type { Label, LabelMatcher, Labels, MatcherType, SeriesPiece } from '../types';
import { DecodeError } from './decode-error';
import { SampleBuffer } from './sample-buffer';
import { int64Size, readInt64, TWO_32, writeInt64 } from './varint';

/** ReadRequest.ResponseType */
export const RESPONSE_SAMPLES = 0;
export const RESPONSE_STREAMED_XOR_CHUNKS = 1;

export const CONTENT_TYPE_PROTOBUF = 'application/x-protobuf';
export const CONTENT_TYPE_STREAMED = 'application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse';

const MATCHER_TYPE_CODE: Record<MatcherType, number> = { '=': 0, '!=': 1, '=~': 2, '!~': 3 };
const MATCHER_TYPES: readonly MatcherType[] = ['=', '!=', '=~', '!~'];

export interface ReadHints {
  readonly stepMs?: number;
  readonly func?: string;
  readonly startMs?: number;
  readonly endMs?: number;
  readonly grouping?: readonly string[];
  readonly by?: boolean;
  readonly rangeMs?: number;
}

export interface ReadQuery {
  readonly startTimestampMs: number;
  /** Inclusive, as Prometheus reads it. */
  readonly endTimestampMs: number;
  readonly matchers: readonly LabelMatcher[];
  readonly hints?: ReadHints;
}

export interface ReadRequest {
  readonly queries: ReadQuery[];
  readonly acceptedResponseTypes: number[];
}

export interface QueryResult {
  readonly series: SeriesPiece[];
  /** Native histogram samples seen and skipped (promvault keeps float samples only). */
  readonly skippedHistograms: number;
}

export interface ChunkMessage {
  readonly minTimeMs: number;
  /** Inclusive; math.MaxInt64 (rounded) for a head chunk still open. */
  readonly maxTimeMs: number;
  /** Chunk encoding: 1 XOR, 2 histogram, 3 float histogram. */
  readonly type: number;
  /** A view into the decoded message. */
  readonly data: Uint8Array;
}

export interface ChunkedSeries {
  readonly labels: Labels;
  readonly chunks: ChunkMessage[];
}

export interface ChunkedReadResponse {
  readonly queryIndex: number;
  readonly series: ChunkedSeries[];
}

// ---------------------------------------------------------------------------------------------
// Decoding helpers

function wrapDecode<T>(what: string, bytes: Uint8Array, fn: (r: Reader) => T): T {
  const r = new Reader(bytes);
  try {
    return fn(r);
  } catch (err) {
    const detail = err instanceof DecodeError ? err.message : `at byte ${r.pos}: ${(err as Error).message}`;
    throw new DecodeError(`malformed ${what} (${bytes.length} bytes): ${detail}`, { cause: err });
  }
}

/** Reads a length prefix and returns the end of the embedded message. */
function subEnd(r: Reader, end: number): number {
  const len = r.uint32();
  const e = r.pos + len;
  if (e > end) throw new DecodeError(`field of ${len} bytes at byte ${r.pos} runs past its message (ends at ${end})`);
  return e;
}

function checkEnd(r: Reader, end: number): void {
  if (r.pos !== end) throw new DecodeError(`field runs past its message at byte ${r.pos} (message ends at ${end})`);
}

function readString(r: Reader): string {
  try {
    return r.stringVerify();
  } catch (err) {
    throw new DecodeError(`string at byte ${r.pos} is not valid UTF-8`, { cause: err });
  }
}

function readLabel(r: Reader, end: number): Label {
  let name = '';
  let value = '';
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 0x0a) name = readString(r);
    else if (tag === 0x12) value = readString(r);
    else r.skipType(tag & 7);
  }
  checkEnd(r, end);
  return { name, value };
}

/** Reads a Sample message and appends it to `out`, copying the double's raw bits. */
function readSample(r: Reader, end: number, out: SampleBuffer): void {
  const buf = r.buf;
  let t = 0;
  let hi = 0;
  let lo = 0;
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 0x09) {
      const p = r.pos;
      if (p + 8 > end) throw new DecodeError(`sample value at byte ${p} runs past its message`);
      lo = buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16) | (buf[p + 3]! << 24);
      hi = buf[p + 4]! | (buf[p + 5]! << 8) | (buf[p + 6]! << 16) | (buf[p + 7]! << 24);
      r.pos = p + 8;
    } else if (tag === 0x10) {
      t = readInt64(r);
    } else r.skipType(tag & 7);
  }
  checkEnd(r, end);
  out.pushBits(t, hi, lo);
}

const scratch = new SampleBuffer(4096);

/** Reads a TimeSeries into a SeriesPiece (exact-size arrays); counts skipped histograms. */
function readTimeSeries(r: Reader, end: number, histograms: { n: number }): SeriesPiece {
  const labels: Label[] = [];
  scratch.clear();
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 0x0a) labels.push(readLabel(r, subEnd(r, end)));
    else if (tag === 0x12) readSample(r, subEnd(r, end), scratch);
    else {
      if (tag === 0x22) histograms.n++;
      r.skipType(tag & 7);
    }
  }
  checkEnd(r, end);
  const { timestamps, values } = scratch.copyOut();
  return { labels, timestamps, values };
}

function readTimeSeriesList(r: Reader, end: number, histograms: { n: number }): SeriesPiece[] {
  const series: SeriesPiece[] = [];
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 0x0a) series.push(readTimeSeries(r, subEnd(r, end), histograms));
    else r.skipType(tag & 7);
  }
  checkEnd(r, end);
  return series;
}

// ---------------------------------------------------------------------------------------------
// Remote read

function writeMatcher(w: Writer, m: LabelMatcher): void {
  w.uint32(0x1a).fork();
  const code = MATCHER_TYPE_CODE[m.type];
  if (code === undefined) throw new RangeError(`unknown matcher type ${JSON.stringify(m.type)}`);
  w.uint32(0x08).int32(code);
  w.uint32(0x12).string(m.name);
  w.uint32(0x1a).string(m.value);
  w.ldelim();
}

/** ReadRequest with the given queries, accepting the response types in order of preference. */
export function encodeReadRequest(queries: readonly ReadQuery[], acceptedTypes: readonly number[]): Uint8Array {
  const w = Writer.create();
  for (const q of queries) {
    w.uint32(0x0a).fork();
    w.uint32(0x08).int64(q.startTimestampMs);
    w.uint32(0x10).int64(q.endTimestampMs);
    for (const m of q.matchers) writeMatcher(w, m);
    if (q.hints) {
      const h = q.hints;
      w.uint32(0x22).fork();
      if (h.stepMs !== undefined) w.uint32(0x08).int64(h.stepMs);
      if (h.func !== undefined) w.uint32(0x12).string(h.func);
      if (h.startMs !== undefined) w.uint32(0x18).int64(h.startMs);
      if (h.endMs !== undefined) w.uint32(0x20).int64(h.endMs);
      for (const g of h.grouping ?? []) w.uint32(0x2a).string(g);
      if (h.by !== undefined) w.uint32(0x30).bool(h.by);
      if (h.rangeMs !== undefined) w.uint32(0x38).int64(h.rangeMs);
      w.ldelim();
    }
    w.ldelim();
  }
  if (acceptedTypes.length > 0) {
    // Packed, as proto3 repeated enums are.
    w.uint32(0x12).fork();
    for (const t of acceptedTypes) w.int32(t);
    w.ldelim();
  }
  return w.finish();
}

function readMatcher(r: Reader, end: number): LabelMatcher {
  let code = 0;
  let name = '';
  let value = '';
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 0x08) code = r.int32();
    else if (tag === 0x12) name = readString(r);
    else if (tag === 0x1a) value = readString(r);
    else r.skipType(tag & 7);
  }
  checkEnd(r, end);
  const type = MATCHER_TYPES[code];
  if (type === undefined) throw new DecodeError(`unknown label matcher type ${code}`);
  return { type, name, value };
}

function readHints(r: Reader, end: number): ReadHints {
  const h: { -readonly [K in keyof ReadHints]: ReadHints[K] } = {};
  const grouping: string[] = [];
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag) {
      case 0x08:
        h.stepMs = readInt64(r);
        break;
      case 0x12:
        h.func = readString(r);
        break;
      case 0x18:
        h.startMs = readInt64(r);
        break;
      case 0x20:
        h.endMs = readInt64(r);
        break;
      case 0x2a:
        grouping.push(readString(r));
        break;
      case 0x30:
        h.by = r.bool();
        break;
      case 0x38:
        h.rangeMs = readInt64(r);
        break;
      default:
        r.skipType(tag & 7);
    }
  }
  checkEnd(r, end);
  if (grouping.length > 0) h.grouping = grouping;
  return h;
}

/** Decodes a ReadRequest (for test servers). */
export function decodeReadRequest(bytes: Uint8Array): ReadRequest {
  return wrapDecode('ReadRequest', bytes, (r) => {
    const queries: ReadQuery[] = [];
    const acceptedResponseTypes: number[] = [];
    while (r.pos < r.len) {
      const tag = r.uint32();
      if (tag === 0x0a) {
        const end = subEnd(r, r.len);
        let startTimestampMs = 0;
        let endTimestampMs = 0;
        const matchers: LabelMatcher[] = [];
        let hints: ReadHints | undefined;
        while (r.pos < end) {
          const t = r.uint32();
          if (t === 0x08) startTimestampMs = readInt64(r);
          else if (t === 0x10) endTimestampMs = readInt64(r);
          else if (t === 0x1a) matchers.push(readMatcher(r, subEnd(r, end)));
          else if (t === 0x22) hints = readHints(r, subEnd(r, end));
          else r.skipType(t & 7);
        }
        checkEnd(r, end);
        queries.push(
          hints
            ? { startTimestampMs, endTimestampMs, matchers, hints }
            : { startTimestampMs, endTimestampMs, matchers },
        );
      } else if (tag === 0x12) {
        const end = subEnd(r, r.len);
        while (r.pos < end) acceptedResponseTypes.push(r.int32());
        checkEnd(r, end);
      } else if (tag === 0x10) {
        acceptedResponseTypes.push(r.int32());
      } else r.skipType(tag & 7);
    }
    return { queries, acceptedResponseTypes };
  });
}

/** Decodes a ReadResponse (the SAMPLES response type, after snappy decompression). */
export function decodeReadResponse(bytes: Uint8Array): QueryResult[] {
  return wrapDecode('ReadResponse', bytes, (r) => {
    const results: QueryResult[] = [];
    while (r.pos < r.len) {
      const tag = r.uint32();
      if (tag === 0x0a) {
        const histograms = { n: 0 };
        const series = readTimeSeriesList(r, subEnd(r, r.len), histograms);
        results.push({ series, skippedHistograms: histograms.n });
      } else r.skipType(tag & 7);
    }
    return results;
  });
}

/** Encodes a ReadResponse with one QueryResult per entry (for test servers). */
export function encodeReadResponse(results: readonly (readonly SeriesPiece[])[]): Uint8Array {
  const w = Writer.create();
  for (const series of results) w.uint32(0x0a).bytes(encodeTimeSeriesList(series));
  return w.finish();
}

/** Decodes one ChunkedReadResponse frame message. Chunk data are views into `bytes`. */
export function decodeChunkedReadResponse(bytes: Uint8Array): ChunkedReadResponse {
  return wrapDecode('ChunkedReadResponse', bytes, (r) => {
    let queryIndex = 0;
    const series: ChunkedSeries[] = [];
    while (r.pos < r.len) {
      const tag = r.uint32();
      if (tag === 0x0a) {
        const end = subEnd(r, r.len);
        const labels: Label[] = [];
        const chunks: ChunkMessage[] = [];
        while (r.pos < end) {
          const t = r.uint32();
          if (t === 0x0a) labels.push(readLabel(r, subEnd(r, end)));
          else if (t === 0x12) chunks.push(readChunk(r, subEnd(r, end)));
          else r.skipType(t & 7);
        }
        checkEnd(r, end);
        series.push({ labels, chunks });
      } else if (tag === 0x10) {
        queryIndex = readInt64(r);
      } else r.skipType(tag & 7);
    }
    return { queryIndex, series };
  });
}

function readChunk(r: Reader, end: number): ChunkMessage {
  let minTimeMs = 0;
  let maxTimeMs = 0;
  let type = 0;
  let data: Uint8Array = EMPTY;
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === 0x08) minTimeMs = readInt64(r);
    else if (tag === 0x10) maxTimeMs = readInt64(r);
    else if (tag === 0x18) type = r.int32();
    else if (tag === 0x22) {
      const e = subEnd(r, end);
      data = r.buf.subarray(r.pos, e);
      r.pos = e;
    } else r.skipType(tag & 7);
  }
  checkEnd(r, end);
  return { minTimeMs, maxTimeMs, type, data };
}

const EMPTY = new Uint8Array(0);

/** Encodes one ChunkedReadResponse frame message (for test servers). */
export function encodeChunkedReadResponse(resp: ChunkedReadResponse): Uint8Array {
  const w = Writer.create();
  for (const s of resp.series) {
    w.uint32(0x0a).fork();
    for (const l of s.labels) w.uint32(0x0a).fork().uint32(0x0a).string(l.name).uint32(0x12).string(l.value).ldelim();
    for (const c of s.chunks) {
      w.uint32(0x12).fork();
      w.uint32(0x08).int64(c.minTimeMs);
      w.uint32(0x10).int64(c.maxTimeMs);
      w.uint32(0x18).int32(c.type);
      w.uint32(0x22).bytes(c.data);
      w.ldelim();
    }
    w.ldelim();
  }
  if (resp.queryIndex !== 0) w.uint32(0x10).int64(resp.queryIndex);
  return w.finish();
}

// ---------------------------------------------------------------------------------------------
// Remote write 1.0

export function uvarintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

export function writeUvarint32(buf: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  buf[pos++] = n;
  return pos;
}

/**
 * Integer ms in [2^35, 2^42), 1971 to 2109: every real timestamp. Their varint is 6 bytes, which
 * the encoder writes unrolled; a sample is 18 bytes on this path.
 */
function isSixByteTimestamp(t: number): boolean {
  return t >= 0x800000000 && t < 0x40000000000 && Math.floor(t) === t;
}

/**
 * The bytes of a message whose field 1 is `repeated TimeSeries` (WriteRequest, QueryResult).
 * Every sample carries both fields, even zero ones, so -0.0 keeps its sign.
 */
function encodeTimeSeriesList(series: readonly SeriesPiece[], scratch?: Scratch): Uint8Array {
  // Room for the worst case: 5-byte lengths, 3 UTF-8 bytes per UTF-16 unit, 10-byte timestamps.
  // Indexed loops, not for-of: the array iterator inlined twice over doubled this function's
  // compile time, a fixed cost of every cold restore.
  let bound = 0;
  for (let s = 0; s < series.length; s++) {
    const piece = series[s]!;
    const n = piece.timestamps.length;
    if (piece.values.length !== n) throw seriesLengthError(piece);
    bound += 6 + 22 * n;
    const labels = piece.labels;
    for (let i = 0; i < labels.length; i++) bound += 17 + 3 * (labels[i]!.name.length + labels[i]!.value.length);
  }
  const out = scratch ? scratch.take(bound) : Buffer.allocUnsafe(bound);
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let pos = 0;
  const labelLengths: number[] = [];
  for (let s = 0; s < series.length; s++) {
    const piece = series[s]!;
    const start = pos;
    const labelBytes = measureLabels(piece.labels, labelLengths);
    // One pass: the length assumes every timestamp takes the 6-byte path; a series where one
    // does not is written again with exact sizes.
    const n = piece.timestamps.length;
    out[pos++] = 0x0a;
    pos = writeUvarint32(out, pos, labelBytes + 18 * n);
    pos = writeLabels(out, pos, piece.labels, labelLengths);
    const end = writeSixByteSamples(out, dv, pos, piece);
    pos = end >= 0 ? end : writeSeriesExactly(out, dv, start, piece, labelBytes, labelLengths);
  }
  return out.subarray(0, pos);
}

function seriesLengthError(piece: SeriesPiece): RangeError {
  return new RangeError(`series has ${piece.timestamps.length} timestamps but ${piece.values.length} values`);
}

/** Bytes of a Label message whose name and value take n and v UTF-8 bytes (tags and lengths included). */
function labelMessageSize(n: number, v: number): number {
  return 1 + uvarintSize(n) + n + 1 + uvarintSize(v) + v;
}

/** Bytes of a label set's Label messages; keeps their names' and values' UTF-8 lengths, in turn, in `lengths`. */
export function measureLabels(labels: Labels, lengths: number[]): number {
  let bytes = 0;
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    const n = Buffer.byteLength(l.name, 'utf8');
    const v = Buffer.byteLength(l.value, 'utf8');
    lengths[2 * i] = n;
    lengths[2 * i + 1] = v;
    const ls = labelMessageSize(n, v);
    bytes += 1 + uvarintSize(ls) + ls;
  }
  return bytes;
}

/** Writes the Label messages of a label set, with the lengths measureLabels kept. */
export function writeLabels(out: Buffer, pos: number, labels: Labels, lengths: readonly number[]): number {
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    const n = lengths[2 * i]!;
    const v = lengths[2 * i + 1]!;
    out[pos++] = 0x0a;
    pos = writeUvarint32(out, pos, labelMessageSize(n, v));
    out[pos++] = 0x0a;
    pos = writeUvarint32(out, pos, n);
    pos += out.write(l.name, pos, n, 'utf8');
    out[pos++] = 0x12;
    pos = writeUvarint32(out, pos, v);
    pos += out.write(l.value, pos, v, 'utf8');
  }
  return pos;
}

/**
 * The samples of a series, 18 bytes each: tag and length, value tag, the value's 8 bytes moved
 * as two 32-bit words (NaN payloads unchanged), timestamp tag and an unrolled 6-byte varint.
 * Returns the end, or -1 at the first timestamp outside [2^35, 2^42).
 */
function writeSixByteSamples(out: Buffer, dv: DataView, pos: number, piece: SeriesPiece): number {
  const ts = piece.timestamps;
  const vw = new Uint32Array(piece.values.buffer, piece.values.byteOffset, 2 * piece.values.length);
  for (let i = 0; i < ts.length; i++) {
    const t = ts[i]!;
    if (!isSixByteTimestamp(t)) return -1;
    const lo = t >>> 0;
    const hi = (t - lo) / TWO_32;
    dv.setUint16(pos, 0x1012, true);
    out[pos + 2] = 0x09;
    dv.setUint32(pos + 3, vw[2 * i]!, true);
    dv.setUint32(pos + 7, vw[2 * i + 1]!, true);
    out[pos + 11] = 0x10;
    dv.setUint32(
      pos + 12,
      ((lo & 0x7f) |
        0x80 |
        ((((lo >>> 7) & 0x7f) | 0x80) << 8) |
        ((((lo >>> 14) & 0x7f) | 0x80) << 16) |
        ((((lo >>> 21) & 0x7f) | 0x80) << 24)) >>>
        0,
      true,
    );
    out[pos + 16] = (lo >>> 28) | ((hi & 0x07) << 4) | 0x80;
    out[pos + 17] = hi >>> 3;
    pos += 18;
  }
  return pos;
}

/** A whole series at `start` with exact sizes, for timestamps of any integer magnitude. */
function writeSeriesExactly(
  out: Buffer,
  dv: DataView,
  start: number,
  piece: SeriesPiece,
  labelBytes: number,
  labelLengths: readonly number[],
): number {
  const ts = piece.timestamps;
  let size = labelBytes;
  for (let i = 0; i < ts.length; i++) {
    const t = ts[i]!;
    if (!Number.isSafeInteger(t)) throw new RangeError(`timestamp ${t} is not an integer number of ms`);
    size += 2 + 9 + 1 + int64Size(t);
  }
  let pos = start;
  out[pos++] = 0x0a;
  pos = writeUvarint32(out, pos, size);
  pos = writeLabels(out, pos, piece.labels, labelLengths);
  const vw = new Uint32Array(piece.values.buffer, piece.values.byteOffset, 2 * piece.values.length);
  for (let i = 0; i < ts.length; i++) {
    const t = ts[i]!;
    out[pos++] = 0x12;
    out[pos++] = 10 + int64Size(t);
    out[pos++] = 0x09;
    dv.setUint32(pos, vw[2 * i]!, true);
    dv.setUint32(pos + 4, vw[2 * i + 1]!, true);
    pos += 8;
    out[pos++] = 0x10;
    pos = writeInt64(out, pos, t);
  }
  return pos;
}

/** A growable buffer reused across encodings, so a restore does not allocate each request anew. */
export class Scratch {
  private buf = Buffer.allocUnsafe(0);

  /** A view of n bytes, valid until the next call. */
  take(n: number): Buffer {
    if (this.buf.length < n) this.buf = Buffer.allocUnsafe(Math.max(n, 2 * this.buf.length));
    return this.buf.subarray(0, n);
  }
}

/**
 * A remote-write 1.0 WriteRequest (uncompressed) carrying the given series. With `scratch`, the
 * result is a view into it, valid until the scratch is used again.
 */
export function encodeWriteRequest(series: readonly SeriesPiece[], scratch?: Scratch): Uint8Array {
  return encodeTimeSeriesList(series, scratch);
}

/** Decodes a remote-write 1.0 WriteRequest (uncompressed), e.g. in a test receiver. */
export function decodeWriteRequest(bytes: Uint8Array): SeriesPiece[] {
  return wrapDecode('WriteRequest', bytes, (r) => readTimeSeriesList(r, r.len, { n: 0 }));
}

/** Labels sorted by name (Prometheus order); returns the input when already sorted. */
export function sortedLabels(labels: Labels): Labels {
  for (let i = 1; i < labels.length; i++) {
    if (labels[i - 1]!.name > labels[i]!.name) return [...labels].sort((a, b) => (a.name < b.name ? -1 : 1));
  }
  return labels;
}
