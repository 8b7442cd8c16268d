/**
 * Streaming shard encoder: SeriesPieces in, object bytes out, in blocks of bounded size.
 */
import { Readable, pipeline } from 'node:stream';
import * as zlib from 'node:zlib';
import type { Labels, MetricMetadata, SeriesPiece } from '../types';
import { labelsEqual } from '../labels';
import { MetadataIndex } from '../metadata';
import { BlockBuffer, BlockWriter, DEFAULT_ENCODER_TUNING, InvalidSeriesError } from './block-encode';
import { LIMITS, RECORD_END } from './block-format';
import type { EncoderTuning, KindCounts } from './block-encode';
import { ByteWriter } from './bytes';
import { crc32 } from './crc32';
import { HEADER_BYTES, METADATA_FORMAT_VERSION, encodeHeader, type CodecName } from './header';
import { encodeMetadataRecord } from './metadata-encode';

export interface EncodeOptions {
  /** Compressor of the payload. Default 'brotli'. */
  readonly codec?: CodecName;
  /** Brotli quality 0-11 or zlib level 0-9. Default DEFAULT_BROTLI_QUALITY / 6. */
  readonly level?: number;
  /** Brotli window (BROTLI_PARAM_LGWIN), 10-24. Default DEFAULT_WINDOW_BITS. */
  readonly windowBits?: number;
  /** Samples per block, 1024 to 2^20. Default DEFAULT_BLOCK_SAMPLES. */
  readonly blockSamples?: number;
  /** Encoder choices (all produce valid streams); for benchmarks and tests. */
  readonly tuning?: Partial<EncoderTuning>;
  /**
   * The source's metric metadata: the entries of the families the shard's series belong to are
   * stored (format version 2). Without any, the object is version 1.
   */
  readonly metadata?: readonly MetricMetadata[];
}

/** Chosen by bench/format-tuning.ts; see docs/FORMAT.md. */
export const DEFAULT_BROTLI_QUALITY = 4;
export const DEFAULT_BLOCK_SAMPLES = 1 << 18;
export const DEFAULT_WINDOW_BITS = 22;
const MAX_LABEL_BYTES = 16 << 20;
const TS_LIMIT = 2 ** 50;

export interface ShardStats {
  /** Series stored (consecutive pieces with equal labels count once). */
  readonly series: number;
  readonly samples: number;
  /** Bytes of the object before compression (header + payload). */
  readonly rawBytes: number;
  /** Bytes of the object as produced (header + compressed payload). */
  readonly storedBytes: number;
  readonly blocks: number;
  /** null when the shard holds no samples. */
  readonly minTs: number | null;
  readonly maxTs: number | null;
  /** How many segments / samples each value codec got. */
  readonly kinds: KindCounts;
  /** Uncompressed bytes per block section (see SECTIONS), summed over blocks. */
  readonly sectionBytes: readonly number[];
  /** Metric families whose metadata the object holds. */
  readonly metadataFamilies: number;
}

/**
 * Turns pieces into the uncompressed payload (block records, then the end record). `add` and
 * `finish` return finished records; each is a new array the caller may keep.
 */
export class ShardEncoder {
  private readonly buf: BlockBuffer;
  private readonly writer: BlockWriter;
  private readonly tuning: EncoderTuning;
  private cur: Labels | null = null;
  private curLast = -Infinity;
  private blockStringBytes = 0;
  private finished = false;
  private readonly metadata: MetadataIndex | undefined;
  /** Families whose metadata is stored or waits for the block being filled. */
  private readonly metadataStored = new Set<string>();
  private metadataPending: MetricMetadata[] = [];
  series = 0;
  samples = 0;
  blocks = 0;
  payloadBytes = 0;
  minTs = Infinity;
  maxTs = -Infinity;

  constructor(opts: EncodeOptions = {}) {
    const cap = opts.blockSamples ?? DEFAULT_BLOCK_SAMPLES;
    if (!Number.isInteger(cap) || cap < 1024 || cap > LIMITS.maxBlockSamples) {
      throw new RangeError(`blockSamples must be an integer in [1024, ${LIMITS.maxBlockSamples}]`);
    }
    this.tuning = { ...DEFAULT_ENCODER_TUNING, ...opts.tuning };
    this.buf = new BlockBuffer(cap);
    this.writer = new BlockWriter(cap, this.tuning);
    const index = new MetadataIndex(opts.metadata ?? []);
    this.metadata = index.size > 0 ? index : undefined;
  }

  /** The format version of the records this encoder writes. */
  get version(): number {
    return this.metadata ? METADATA_FORMAT_VERSION : 1;
  }

  get metadataFamilies(): number {
    return this.metadataStored.size;
  }

  get kinds(): KindCounts {
    return this.writer.kinds;
  }

  get sectionBytes(): readonly number[] {
    return Array.from(this.writer.sectionBytes);
  }

  add(piece: SeriesPiece): Uint8Array[] {
    if (this.finished) throw new Error('ShardEncoder.add after finish');
    const { timestamps: ts, values } = piece;
    const n = ts.length;
    if (values.length !== n) {
      throw new InvalidSeriesError(`series piece has ${n} timestamps but ${values.length} values`);
    }
    const out: Uint8Array[] = [];
    if (n === 0) return out;
    const buf = this.buf;
    if (this.cur === null || !labelsEqual(this.cur, piece.labels)) {
      const lb = BlockWriter.labelBytes(piece.labels);
      if (lb > MAX_LABEL_BYTES) throw new InvalidSeriesError(`label set of ${lb} bytes is too large`);
      if (
        buf.samples >= buf.capacity ||
        buf.segments.length >= LIMITS.maxBlockSegments ||
        (buf.segments.length > 0 && this.blockStringBytes + lb > this.tuning.blockStringBytes)
      ) {
        this.flush(out);
      }
      if (this.metadata) this.noteFamily(piece.labels);
      this.cur = piece.labels;
      this.curLast = -Infinity;
      this.series++;
      this.blockStringBytes += lb;
      buf.segments.push({ labels: piece.labels, start: buf.samples, count: 0 });
    }
    const first = ts[0] as number;
    if (first < this.minTs) this.minTs = first;
    const srcU8 = new Uint8Array(values.buffer, values.byteOffset, n * 8);
    let i = 0;
    let last = this.curLast;
    while (i < n) {
      if (buf.samples === buf.capacity) {
        this.flush(out);
        buf.segments.push({ labels: null, start: 0, count: 0 });
      }
      const m = Math.min(n - i, buf.capacity - buf.samples);
      const base = buf.samples;
      buf.ts.set(ts.subarray(i, i + m), base);
      for (let k = i; k < i + m; k++) {
        const t = ts[k] as number;
        if (!(t > last && t < TS_LIMIT && Math.floor(t) === t)) this.badTimestamp(piece, t, last);
        last = t;
      }
      buf.u8.set(srcU8.subarray(i * 8, (i + m) * 8), base * 8);
      (buf.segments[buf.segments.length - 1] as { count: number }).count += m;
      buf.samples += m;
      i += m;
    }
    this.curLast = last;
    if (last > this.maxTs) this.maxTs = last;
    this.samples += n;
    return out;
  }

  private badTimestamp(piece: SeriesPiece, t: number, last: number): never {
    const name = piece.labels.map((l) => `${l.name}=${JSON.stringify(l.value)}`).join(',');
    if (!(Math.floor(t) === t && t > -TS_LIMIT && t < TS_LIMIT)) {
      throw new InvalidSeriesError(`series {${name}}: timestamp ${t} is not an integer within +-2^50 ms`);
    }
    throw new InvalidSeriesError(`series {${name}}: timestamp ${t} does not follow ${last} (must ascend strictly)`);
  }

  /** Queues the metadata of a series' family for the block being filled, once per object. */
  private noteFamily(labels: Labels): void {
    const name = labels.find((l) => l.name === '__name__')?.value;
    const family = name === undefined ? undefined : this.metadata?.familyOf(name);
    if (family === undefined || this.metadataStored.has(family.metricFamilyName)) return;
    this.metadataStored.add(family.metricFamilyName);
    this.metadataPending.push(family);
  }

  /** Appends the block's metadata record, if any, and the block record to `out`. */
  private flush(out: Uint8Array[]): void {
    if (this.metadataPending.length > 0) {
      const meta = encodeMetadataRecord(this.metadataPending);
      this.metadataPending = [];
      this.payloadBytes += meta.length;
      out.push(meta);
    }
    const rec = this.writer.encode(this.buf);
    this.buf.clear();
    this.blocks++;
    this.payloadBytes += rec.length;
    this.blockStringBytes = 0;
    out.push(rec);
  }

  /** Flushes the last block and writes the end record. */
  finish(): Uint8Array[] {
    if (this.finished) throw new Error('ShardEncoder.finish called twice');
    this.finished = true;
    const out: Uint8Array[] = [];
    if (this.buf.segments.length > 0) this.flush(out);
    const w = new ByteWriter(32);
    w.u8(RECORD_END);
    w.uvarint(this.blocks);
    w.uvarint(this.series);
    w.uvarint(this.samples);
    w.u32le(crc32(w.view()));
    const end = w.view().slice();
    this.payloadBytes += end.length;
    out.push(end);
    return out;
  }
}

export interface EncodedShard {
  /** The object's bytes; pulls pieces as it is read. Read it once. */
  readonly body: AsyncIterable<Uint8Array>;
  /** The codec written in the header ('brotli', 'zlib' or 'none'). */
  readonly codec: CodecName;
  /** Totals so far; final once body has been read to its end. */
  stats(): ShardStats;
}

function compressor(codec: CodecName, opts: EncodeOptions): zlib.BrotliCompress | zlib.Deflate {
  if (codec === 'brotli') {
    const c = zlib.constants;
    return zlib.createBrotliCompress({
      chunkSize: 64 * 1024,
      params: {
        [c.BROTLI_PARAM_QUALITY]: opts.level ?? DEFAULT_BROTLI_QUALITY,
        [c.BROTLI_PARAM_LGWIN]: opts.windowBits ?? DEFAULT_WINDOW_BITS,
        [c.BROTLI_PARAM_MODE]: c.BROTLI_MODE_GENERIC,
      },
    });
  }
  return zlib.createDeflate({ chunkSize: 64 * 1024, level: opts.level ?? 6, memLevel: 9 });
}

/**
 * Encodes pieces (consecutive pieces with equal labels are one series) into a shard object.
 * Back-pressure: pieces are pulled only as fast as `body` is read. An error from `pieces` (or
 * invalid input) makes reading `body` fail with that error.
 */
export function encodeShard(
  pieces: AsyncIterable<SeriesPiece> | Iterable<SeriesPiece>,
  opts: EncodeOptions = {},
): EncodedShard {
  const codec = opts.codec ?? 'brotli';
  const maxLevel = codec === 'brotli' ? 11 : 9;
  if (opts.level !== undefined && !(Number.isInteger(opts.level) && opts.level >= 0 && opts.level <= maxLevel)) {
    throw new RangeError(`level must be an integer in [0, ${maxLevel}] for ${codec}`);
  }
  const wb = opts.windowBits;
  if (wb !== undefined && !(Number.isInteger(wb) && wb >= 10 && wb <= 24)) {
    throw new RangeError('windowBits must be an integer in [10, 24]');
  }
  const enc = new ShardEncoder(opts);
  let stored = 0;

  async function* payload(): AsyncGenerator<Uint8Array> {
    for await (const piece of pieces) {
      for (const rec of enc.add(piece)) yield rec;
    }
    for (const rec of enc.finish()) yield rec;
  }

  async function* body(): AsyncGenerator<Uint8Array> {
    const header = encodeHeader(codec, enc.version);
    stored += header.length;
    yield header;
    if (codec === 'none') {
      for await (const chunk of payload()) {
        stored += chunk.length;
        yield chunk;
      }
      return;
    }
    const z = compressor(codec, opts);
    // Two records of read-ahead: encoding in JS overlaps compression on the thread pool.
    const src = Readable.from(payload(), { objectMode: true, highWaterMark: 2 });
    pipeline(src, z, () => {
      // Errors surface through the iteration of z below.
    });
    for await (const chunk of z as AsyncIterable<Buffer>) {
      stored += chunk.length;
      yield chunk;
    }
  }

  return {
    body: body(),
    codec,
    stats: () => ({
      series: enc.series,
      samples: enc.samples,
      rawBytes: HEADER_BYTES + enc.payloadBytes,
      storedBytes: stored,
      blocks: enc.blocks,
      minTs: enc.samples > 0 ? enc.minTs : null,
      maxTs: enc.samples > 0 ? enc.maxTs : null,
      kinds: structuredClone(enc.kinds),
      sectionBytes: enc.sectionBytes,
      metadataFamilies: enc.metadataFamilies,
    }),
  };
}
