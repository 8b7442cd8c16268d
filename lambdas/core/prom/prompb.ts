/**
 * Hand-written codecs for the prompb messages promvault exchanges (see prompb.proto), built on
 * protobufjs' Reader and Writer primitives. Hand-written so that doubles move as raw bytes
 * (NaN payloads such as the staleness marker survive) and the per-sample path allocates nothing.
 *
 * Everything here is synchronous and pure. Decoders throw DecodeError on malformed input.
 */
import { Reader, Writer } from 'protobufjs/minimal';
import {
  METRIC_TYPES,
  type Label,
  type LabelMatcher,
  type Labels,
  type MatcherType,
  type MetricMetadata,
  type SeriesPiece,
} from '../types';
import { DecodeError } from './decode-error';
import { SampleBuffer } from './sample-buffer';
import { int64Size, readInt64, TWO_32, writeInt64 } from './varint';

/** ReadRequest.ResponseType */
export const RESPONSE_SAMPLES = 0;
export const RESPONSE_STREAMED_XOR_CHUNKS = 1;

export const CONTENT_TYPE_PROTOBUF = 'application/x-protobuf';
export const CONTENT_TYPE_STREAMED = 'application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse';

const MATCHER_TYPE_CODE: Record<MatcherType, number> = { '=': 0, '!=': 1, '=~': 2, '!~': 3 };

// Wire tags: (field number << 3) | wire type, where 0 is varint, 1 fixed64, 2 length-delimited.
// Named per message as in prompb.proto.
/** Field 1 of both WriteRequest and QueryResult: repeated TimeSeries. */
export const TIMESERIES_LIST = 0x0a; // field 1, message
export const TIMESERIES_LABELS = 0x0a; // field 1, message
export const TIMESERIES_SAMPLES = 0x12; // field 2, message
export const TIMESERIES_HISTOGRAMS = 0x22; // field 4, message (remote write 1.0 with native histograms)
export const LABEL_NAME = 0x0a; // field 1, string
export const LABEL_VALUE = 0x12; // field 2, string
export const SAMPLE_VALUE = 0x09; // field 1, fixed64 (double)
export const SAMPLE_TIMESTAMP = 0x10; // field 2, varint (int64)
export const READ_REQUEST_QUERIES = 0x0a; // field 1, message
export const READ_REQUEST_ACCEPTED_TYPES_PACKED = 0x12; // field 2, packed enums
export const READ_REQUEST_ACCEPTED_TYPES = 0x10; // field 2, one enum (unpacked)
export const READ_RESPONSE_RESULTS = 0x0a; // field 1, message
export const QUERY_START_MS = 0x08; // field 1, varint (int64)
export const QUERY_END_MS = 0x10; // field 2, varint (int64)
export const QUERY_MATCHERS = 0x1a; // field 3, message
export const QUERY_HINTS = 0x22; // field 4, message
export const MATCHER_TYPE = 0x08; // field 1, varint (enum)
export const MATCHER_NAME = 0x12; // field 2, string
export const MATCHER_VALUE = 0x1a; // field 3, string
export const HINTS_STEP_MS = 0x08; // field 1, varint (int64)
export const HINTS_FUNC = 0x12; // field 2, string
export const HINTS_START_MS = 0x18; // field 3, varint (int64)
export const HINTS_END_MS = 0x20; // field 4, varint (int64)
export const HINTS_GROUPING = 0x2a; // field 5, string
export const HINTS_BY = 0x30; // field 6, varint (bool)
export const HINTS_RANGE_MS = 0x38; // field 7, varint (int64)
export const CHUNKED_RESPONSE_SERIES = 0x0a; // field 1, message
export const CHUNKED_RESPONSE_QUERY_INDEX = 0x10; // field 2, varint (int64)
export const CHUNKED_SERIES_LABELS = 0x0a; // field 1, message
export const CHUNKED_SERIES_CHUNKS = 0x12; // field 2, message
export const CHUNK_MIN_TIME_MS = 0x08; // field 1, varint (int64)
export const CHUNK_MAX_TIME_MS = 0x10; // field 2, varint (int64)
export const CHUNK_TYPE = 0x18; // field 3, varint (enum)
export const CHUNK_DATA = 0x22; // field 4, bytes
/** The low 3 bits of a tag: its wire type. */
export const WRITE_REQUEST_METADATA = 0x1a; // field 3, message (MetricMetadata)
export const METADATA_TYPE = 0x08; // field 1, varint (enum MetricType: the index in METRIC_TYPES)
export const METADATA_FAMILY_NAME = 0x12; // field 2, string
export const METADATA_HELP = 0x22; // field 4, string
export const METADATA_UNIT = 0x2a; // field 5, string

export const WIRE_TYPE_MASK = 7;
/** A Sample on the 6-byte-timestamp path: tag and length (16 bytes) as one little-endian uint16. */
const SAMPLE_OF_16_BYTES = TIMESERIES_SAMPLES | (16 << 8);

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

export function wrapDecode<T>(what: string, bytes: Uint8Array, fn: (r: Reader) => T): T {
  const r = new Reader(bytes);
  try {
    return fn(r);
  } catch (err) {
    const detail = err instanceof DecodeError ? err.message : `at byte ${r.pos}: ${(err as Error).message}`;
    throw new DecodeError(`malformed ${what} (${bytes.length} bytes): ${detail}`, { cause: err });
  }
}

/** Reads a length prefix and returns the end of the embedded message. */
export function subEnd(r: Reader, end: number): number {
  const len = r.uint32();
  const e = r.pos + len;
  if (e > end) throw new DecodeError(`field of ${len} bytes at byte ${r.pos} runs past its message (ends at ${end})`);
  return e;
}

export function checkEnd(r: Reader, end: number): void {
  if (r.pos !== end) throw new DecodeError(`field runs past its message at byte ${r.pos} (message ends at ${end})`);
}

export function readString(r: Reader): string {
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
    if (tag === LABEL_NAME) name = readString(r);
    else if (tag === LABEL_VALUE) value = readString(r);
    else r.skipType(tag & WIRE_TYPE_MASK);
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
    if (tag === SAMPLE_VALUE) {
      const p = r.pos;
      if (p + 8 > end) throw new DecodeError(`sample value at byte ${p} runs past its message`);
      lo = buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16) | (buf[p + 3]! << 24);
      hi = buf[p + 4]! | (buf[p + 5]! << 8) | (buf[p + 6]! << 16) | (buf[p + 7]! << 24);
      r.pos = p + 8;
    } else if (tag === SAMPLE_TIMESTAMP) {
      t = readInt64(r);
    } else r.skipType(tag & WIRE_TYPE_MASK);
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
    if (tag === TIMESERIES_LABELS) labels.push(readLabel(r, subEnd(r, end)));
    else if (tag === TIMESERIES_SAMPLES) readSample(r, subEnd(r, end), scratch);
    else {
      if (tag === TIMESERIES_HISTOGRAMS) histograms.n++;
      r.skipType(tag & WIRE_TYPE_MASK);
    }
  }
  checkEnd(r, end);
  const { timestamps, values } = scratch.copyOut();
  return { labels, timestamps, values };
}

export function readTimeSeriesList(r: Reader, end: number, histograms: { n: number }): SeriesPiece[] {
  const series: SeriesPiece[] = [];
  while (r.pos < end) {
    const tag = r.uint32();
    if (tag === TIMESERIES_LIST) series.push(readTimeSeries(r, subEnd(r, end), histograms));
    else r.skipType(tag & WIRE_TYPE_MASK);
  }
  checkEnd(r, end);
  return series;
}

// ---------------------------------------------------------------------------------------------
// Remote read

function writeMatcher(w: Writer, m: LabelMatcher): void {
  w.uint32(QUERY_MATCHERS).fork();
  const code = MATCHER_TYPE_CODE[m.type];
  if (code === undefined) throw new RangeError(`unknown matcher type ${JSON.stringify(m.type)}`);
  w.uint32(MATCHER_TYPE).int32(code);
  w.uint32(MATCHER_NAME).string(m.name);
  w.uint32(MATCHER_VALUE).string(m.value);
  w.ldelim();
}

/** ReadRequest with the given queries, accepting the response types in order of preference. */
export function encodeReadRequest(queries: readonly ReadQuery[], acceptedTypes: readonly number[]): Uint8Array {
  const w = Writer.create();
  for (const q of queries) {
    w.uint32(READ_REQUEST_QUERIES).fork();
    w.uint32(QUERY_START_MS).int64(q.startTimestampMs);
    w.uint32(QUERY_END_MS).int64(q.endTimestampMs);
    for (const m of q.matchers) writeMatcher(w, m);
    if (q.hints) {
      const h = q.hints;
      w.uint32(QUERY_HINTS).fork();
      if (h.stepMs !== undefined) w.uint32(HINTS_STEP_MS).int64(h.stepMs);
      if (h.func !== undefined) w.uint32(HINTS_FUNC).string(h.func);
      if (h.startMs !== undefined) w.uint32(HINTS_START_MS).int64(h.startMs);
      if (h.endMs !== undefined) w.uint32(HINTS_END_MS).int64(h.endMs);
      for (const g of h.grouping ?? []) w.uint32(HINTS_GROUPING).string(g);
      if (h.by !== undefined) w.uint32(HINTS_BY).bool(h.by);
      if (h.rangeMs !== undefined) w.uint32(HINTS_RANGE_MS).int64(h.rangeMs);
      w.ldelim();
    }
    w.ldelim();
  }
  if (acceptedTypes.length > 0) {
    // Packed, as proto3 repeated enums are.
    w.uint32(READ_REQUEST_ACCEPTED_TYPES_PACKED).fork();
    for (const t of acceptedTypes) w.int32(t);
    w.ldelim();
  }
  return w.finish();
}

/** Decodes a ReadResponse (the SAMPLES response type, after snappy decompression). */
export function decodeReadResponse(bytes: Uint8Array): QueryResult[] {
  return wrapDecode('ReadResponse', bytes, (r) => {
    const results: QueryResult[] = [];
    while (r.pos < r.len) {
      const tag = r.uint32();
      if (tag === READ_RESPONSE_RESULTS) {
        const histograms = { n: 0 };
        const series = readTimeSeriesList(r, subEnd(r, r.len), histograms);
        results.push({ series, skippedHistograms: histograms.n });
      } else r.skipType(tag & WIRE_TYPE_MASK);
    }
    return results;
  });
}

/** Decodes one ChunkedReadResponse frame message. Chunk data are views into `bytes`. */
export function decodeChunkedReadResponse(bytes: Uint8Array): ChunkedReadResponse {
  return wrapDecode('ChunkedReadResponse', bytes, (r) => {
    let queryIndex = 0;
    const series: ChunkedSeries[] = [];
    while (r.pos < r.len) {
      const tag = r.uint32();
      if (tag === CHUNKED_RESPONSE_SERIES) {
        const end = subEnd(r, r.len);
        const labels: Label[] = [];
        const chunks: ChunkMessage[] = [];
        while (r.pos < end) {
          const t = r.uint32();
          if (t === CHUNKED_SERIES_LABELS) labels.push(readLabel(r, subEnd(r, end)));
          else if (t === CHUNKED_SERIES_CHUNKS) chunks.push(readChunk(r, subEnd(r, end)));
          else r.skipType(t & WIRE_TYPE_MASK);
        }
        checkEnd(r, end);
        series.push({ labels, chunks });
      } else if (tag === CHUNKED_RESPONSE_QUERY_INDEX) {
        queryIndex = readInt64(r);
      } else r.skipType(tag & WIRE_TYPE_MASK);
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
    if (tag === CHUNK_MIN_TIME_MS) minTimeMs = readInt64(r);
    else if (tag === CHUNK_MAX_TIME_MS) maxTimeMs = readInt64(r);
    else if (tag === CHUNK_TYPE) type = r.int32();
    else if (tag === CHUNK_DATA) {
      const e = subEnd(r, end);
      data = r.buf.subarray(r.pos, e);
      r.pos = e;
    } else r.skipType(tag & WIRE_TYPE_MASK);
  }
  checkEnd(r, end);
  return { minTimeMs, maxTimeMs, type, data };
}

const EMPTY = new Uint8Array(0);

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
export function encodeTimeSeriesList(series: readonly SeriesPiece[], scratch?: Scratch): Uint8Array {
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
    out[pos++] = TIMESERIES_LIST;
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
    out[pos++] = TIMESERIES_LABELS;
    pos = writeUvarint32(out, pos, labelMessageSize(n, v));
    out[pos++] = LABEL_NAME;
    pos = writeUvarint32(out, pos, n);
    pos += out.write(l.name, pos, n, 'utf8');
    out[pos++] = LABEL_VALUE;
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
    dv.setUint16(pos, SAMPLE_OF_16_BYTES, true);
    out[pos + 2] = SAMPLE_VALUE;
    dv.setUint32(pos + 3, vw[2 * i]!, true);
    dv.setUint32(pos + 7, vw[2 * i + 1]!, true);
    out[pos + 11] = SAMPLE_TIMESTAMP;
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
  out[pos++] = TIMESERIES_LIST;
  pos = writeUvarint32(out, pos, size);
  pos = writeLabels(out, pos, piece.labels, labelLengths);
  const vw = new Uint32Array(piece.values.buffer, piece.values.byteOffset, 2 * piece.values.length);
  for (let i = 0; i < ts.length; i++) {
    const t = ts[i]!;
    out[pos++] = TIMESERIES_SAMPLES;
    out[pos++] = 10 + int64Size(t);
    out[pos++] = SAMPLE_VALUE;
    dv.setUint32(pos, vw[2 * i]!, true);
    dv.setUint32(pos + 4, vw[2 * i + 1]!, true);
    pos += 8;
    out[pos++] = SAMPLE_TIMESTAMP;
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

/**
 * A remote-write 1.0 WriteRequest (uncompressed) carrying metric metadata only, as Prometheus'
 * own metadata sends are. Empty strings are left out, as proto3 does.
 */
export function encodeMetadataWriteRequest(metadata: readonly MetricMetadata[]): Uint8Array {
  const w = Writer.create();
  for (const m of metadata) {
    w.uint32(WRITE_REQUEST_METADATA).fork();
    const type = METRIC_TYPES.indexOf(m.type);
    if (type > 0) w.uint32(METADATA_TYPE).int32(type);
    if (m.metricFamilyName !== '') w.uint32(METADATA_FAMILY_NAME).string(m.metricFamilyName);
    if (m.help !== '') w.uint32(METADATA_HELP).string(m.help);
    if (m.unit !== '') w.uint32(METADATA_UNIT).string(m.unit);
    w.ldelim();
  }
  return w.finish();
}

/** Labels sorted by name (Prometheus order); returns the input when already sorted. */
export function sortedLabels(labels: Labels): Labels {
  for (let i = 1; i < labels.length; i++) {
    if (labels[i - 1]!.name > labels[i]!.name) return [...labels].sort((a, b) => (a.name < b.name ? -1 : 1));
  }
  return labels;
}
