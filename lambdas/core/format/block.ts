/**
 * Blocks: the unit of the payload. A block holds the samples of consecutive segments (a segment
 * is the part of one series that falls in the block), columnar: label data, then sample counts,
 * then timestamp columns, then value streams. The writer and reader keep the cross-block state
 * (string dictionary, timestamp column cache, previous label set) in lock step. See docs/FORMAT.md.
 */
import { PermanentError } from '../errors';
import type { Label, Labels, SeriesPiece } from '../types';
import { ByteReader, ByteWriter, corrupt, uvarintLen } from './bytes';
import { crc32 } from './crc32';
import { emptyObjectArray } from '../arrays';
import {
  DEFAULT_VALUE_TUNING,
  ValueReaders,
  ValueScratch,
  ValueStreams,
  decodeValues,
  encodeValues,
  type ValueTuning,
} from './values';

export const RECORD_BLOCK = 0x01;
export const RECORD_END = 0x02;

export const FLAG_RESET_STRINGS = 1;
export const FLAG_RESET_TIMESTAMPS = 2;
export const FLAG_CONTINUES = 4;

/** Sections of a block body, in order. */
export const SECTIONS = [
  'strings',
  'labels',
  'counts',
  'ts-columns',
  'ts-refs',
  'value-kinds',
  'ints',
  'exceptions',
  'corrections',
  'raw',
  'int-plane0',
  'int-plane1',
  'int-plane2',
  'int-plane3',
  'int-plane4',
  'int-plane5',
  'int-plane6',
  'plane0',
  'plane1',
  'plane2',
  'plane3',
  'plane4',
  'plane5',
  'plane6',
  'plane7',
] as const;

/** Limits a decoder enforces so corrupt input cannot make it allocate without bound. */
export const LIMITS = {
  maxBlockSamples: 1 << 20,
  maxBlockSegments: 1 << 20,
  maxBlockBodyBytes: 256 << 20,
  maxDictionaryBytes: 64 << 20,
  maxTimestampCacheBytes: 64 << 20,
} as const;

/** Input the encoder cannot store faithfully (not a corrupt shard: the producer broke a rule). */
export class InvalidSeriesError extends PermanentError {}

export interface EncoderTuning extends ValueTuning {
  /** Reference timestamp columns already stored (in this block or a cached earlier one). */
  readonly tsDedup: boolean;
  /** Encode label sets as a shared prefix with the previous series plus the rest. */
  readonly labelPrefix: boolean;
  /** Reset the timestamp column cache at the next block once it holds more bytes than this. */
  readonly tsCacheBytes: number;
  /** Reset the string dictionary at the next block once it holds more bytes than this. */
  readonly dictionaryBytes: number;
  /** Start a new block before a series once the block's new strings exceed this. */
  readonly blockStringBytes: number;
}

export const DEFAULT_ENCODER_TUNING: EncoderTuning = {
  ...DEFAULT_VALUE_TUNING,
  tsDedup: true,
  labelPrefix: true,
  tsCacheBytes: 8 << 20,
  dictionaryBytes: 8 << 20,
  blockStringBytes: 4 << 20,
};

export interface BlockSegment {
  /** null: continues the last series of the previous block (only as a block's first segment). */
  labels: Labels | null;
  start: number;
  count: number;
}

/** Sample storage of the block being filled; values are kept as raw bits. */
export class BlockBuffer {
  readonly ts: Float64Array;
  readonly f64: Float64Array;
  readonly u32: Uint32Array;
  readonly u8: Uint8Array;
  readonly segments: BlockSegment[] = [];
  samples = 0;

  constructor(readonly capacity: number) {
    this.ts = new Float64Array(capacity);
    const buf = new ArrayBuffer(capacity * 8);
    this.f64 = new Float64Array(buf);
    this.u32 = new Uint32Array(buf);
    this.u8 = new Uint8Array(buf);
  }

  clear(): void {
    this.segments.length = 0;
    this.samples = 0;
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const utf8 = new TextEncoder();

function fnv1a(b: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ (b[i] as number), 0x01000193);
  return h >>> 0;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

interface RecentColumn {
  readonly id: number;
  readonly ts: Float64Array;
}
const RECENT_COLUMNS = 8;
const RECENT_MAX_SAMPLES = 1 << 16;

/** Counts of value codecs chosen, for tuning. */
export type KindCounts = Record<'constInt' | 'constRaw' | 'int' | 'floatXor', { segments: number; samples: number }>;

export class BlockWriter {
  private readonly dict = new Map<string, number>();
  private dictBytes = 0;
  private readonly tsIndex = new Map<number, number[]>();
  /** Most recently used columns, newest first, compared as numbers before encoding. */
  private readonly recent: RecentColumn[] = emptyObjectArray<RecentColumn>();
  private readonly tsCols: Uint8Array[] = emptyObjectArray<Uint8Array>();
  private tsNextId = 0;
  private tsBytes = 0;
  private prevLabels: Labels = emptyObjectArray<Label>();

  private readonly strings = new ByteWriter(4096);
  private readonly labels = new ByteWriter(4096);
  private readonly counts = new ByteWriter(1024);
  private readonly tsColumns = new ByteWriter(4096);
  private readonly tsRefs = new ByteWriter(1024);
  private readonly col = new ByteWriter(4096);
  private readonly values = new ValueStreams();
  private readonly scratch: ValueScratch;
  readonly kinds: KindCounts = {
    constInt: { segments: 0, samples: 0 },
    constRaw: { segments: 0, samples: 0 },
    int: { segments: 0, samples: 0 },
    floatXor: { segments: 0, samples: 0 },
  };
  /** Bytes per section over all blocks, for tuning. */
  readonly sectionBytes = new Float64Array(SECTIONS.length);

  constructor(
    capacity: number,
    readonly tuning: EncoderTuning,
  ) {
    this.scratch = new ValueScratch(capacity);
  }

  /** Dictionary id of a string, adding it (to the dictionary and the block's strings) when new. */
  private ref(s: string): number {
    const id = this.dict.get(s);
    if (id !== undefined) return id;
    if (LONE_SURROGATE.test(s)) {
      throw new InvalidSeriesError(`label text ${JSON.stringify(s)} is not valid Unicode (lone surrogate)`);
    }
    const bytes = utf8.encode(s);
    this.strings.uvarint(bytes.length);
    this.strings.bytes(bytes);
    const next = this.dict.size;
    this.dict.set(s, next);
    this.dictBytes += bytes.length + 8;
    return next;
  }

  /** UTF-8 bytes of new strings a label set would add (upper bound for block splitting). */
  static labelBytes(labels: Labels): number {
    let n = 0;
    for (const l of labels) n += (l.name.length + l.value.length) * 3 + 2;
    return n;
  }

  private tsRef(ts: Float64Array, start: number, n: number): number {
    if (this.tuning.tsDedup) {
      // Fast path: a column used recently (series of one target come in runs or alternate).
      const recent = this.recent;
      const first = ts[start] as number;
      const last = ts[start + n - 1] as number;
      for (let r = 0; r < recent.length; r++) {
        const col = recent[r] as RecentColumn;
        const a = col.ts;
        if (a.length !== n || a[0] !== first || a[n - 1] !== last) continue;
        let i = 1;
        while (i < n && a[i] === ts[start + i]) i++;
        if (i === n) return col.id;
      }
    }
    const id = this.tsRefSlow(ts, start, n);
    if (this.tuning.tsDedup && n <= RECENT_MAX_SAMPLES) {
      if (this.recent.length === RECENT_COLUMNS) this.recent.pop();
      this.recent.unshift({ id, ts: ts.slice(start, start + n) });
    }
    return id;
  }

  private tsRefSlow(ts: Float64Array, start: number, n: number): number {
    const c = this.col;
    c.reset();
    c.uvarint(n);
    let prev = ts[start] as number;
    c.svarint(prev);
    let prevD = 0;
    for (let i = 1; i < n; i++) {
      const t = ts[start + i] as number;
      const d = t - prev;
      c.svarint(d - prevD);
      prevD = d;
      prev = t;
    }
    const bytes = c.view();
    if (this.tuning.tsDedup) {
      const h = fnv1a(bytes);
      const ids = this.tsIndex.get(h);
      if (ids) {
        for (const id of ids) if (sameBytes(this.tsCols[id] as Uint8Array, bytes)) return id;
      }
      const id = this.tsNextId++;
      this.tsCols.push(bytes.slice());
      if (ids) ids.push(id);
      else this.tsIndex.set(h, [id]);
      this.addColumn(bytes);
      return id;
    }
    this.addColumn(bytes);
    return this.tsNextId++;
  }

  private addColumn(bytes: Uint8Array): void {
    this.tsColumns.uvarint(bytes.length);
    this.tsColumns.bytes(bytes);
    this.tsBytes += bytes.length + 16;
  }

  /** Encodes the buffered block as a complete block record (a new array). */
  encode(b: BlockBuffer): Uint8Array {
    const t = this.tuning;
    let flags = 0;
    if (this.dictBytes > t.dictionaryBytes) {
      this.dict.clear();
      this.dictBytes = 0;
      flags |= FLAG_RESET_STRINGS;
    }
    if (this.tsBytes > t.tsCacheBytes) {
      this.tsIndex.clear();
      this.tsCols.length = 0;
      this.recent.length = 0;
      this.tsNextId = 0;
      this.tsBytes = 0;
      flags |= FLAG_RESET_TIMESTAMPS;
    }
    const v = this.values;
    const writers = [this.strings, this.labels, this.counts, this.tsColumns, this.tsRefs, ...v.all()];
    for (const w of writers) w.reset();

    for (let s = 0; s < b.segments.length; s++) {
      const seg = b.segments[s] as BlockSegment;
      if (seg.labels === null) {
        if (s !== 0) throw new Error('continuation segment inside a block');
        flags |= FLAG_CONTINUES;
      } else {
        const l = seg.labels;
        const prev = this.prevLabels;
        let p = 0;
        if (t.labelPrefix) {
          while (p < l.length && p < prev.length) {
            const a = l[p] as Label;
            const c = prev[p] as Label;
            if (a.name !== c.name || a.value !== c.value) break;
            p++;
          }
        }
        this.labels.uvarint(p);
        this.labels.uvarint(l.length - p);
        for (let i = p; i < l.length; i++) {
          const a = l[i] as Label;
          this.labels.uvarint(this.ref(a.name));
          this.labels.uvarint(this.ref(a.value));
        }
        this.prevLabels = l;
      }
      this.counts.uvarint(seg.count);
      this.tsRefs.uvarint(this.tsRef(b.ts, seg.start, seg.count));
      const kind = encodeValues(b.f64, b.u32, b.u8, seg.start, seg.count, v, t, this.scratch);
      const k = this.kinds[(['constInt', 'constRaw', 'int', 'floatXor'] as const)[kind]];
      k.segments++;
      k.samples += seg.count;
    }

    // Assemble: type, body length, crc32(body), body.
    let bodyLen = uvarintLen(flags) + uvarintLen(b.segments.length) + uvarintLen(b.samples);
    for (const w of writers) bodyLen += uvarintLen(w.pos) + w.pos;
    const headLen = 1 + uvarintLen(bodyLen) + 4;
    const out = new ByteWriter(headLen + bodyLen);
    out.u8(RECORD_BLOCK);
    out.uvarint(bodyLen);
    out.u32le(0);
    out.uvarint(flags);
    out.uvarint(b.segments.length);
    out.uvarint(b.samples);
    writers.forEach((w, i) => {
      out.uvarint(w.pos);
      out.bytes(w.view());
      this.sectionBytes[i] = (this.sectionBytes[i] as number) + w.pos;
    });
    const rec = out.view();
    const crc = crc32(rec.subarray(headLen));
    rec[headLen - 4] = crc & 0xff;
    rec[headLen - 3] = (crc >>> 8) & 0xff;
    rec[headLen - 2] = (crc >>> 16) & 0xff;
    rec[headLen - 1] = crc >>> 24;
    return rec;
  }
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** Decodes block bodies in order, mirroring BlockWriter's cross-block state. */
export class BlockReader {
  // Emptied in place on a reset, never replaced: a fresh `[]` has another array map than a
  // filled one, and meeting it deoptimises the decoder.
  private readonly strings: string[] = emptyObjectArray<string>();
  private stringBytes = 0;
  private readonly tsCols: Uint8Array[] = emptyObjectArray<Uint8Array>();
  private tsBytes = 0;
  private prevLabels: Labels = emptyObjectArray<Label>();
  /** Labels of the last segment of the previous block, for continuations. */
  private lastLabels: Labels | null = null;
  blocks = 0;
  series = 0;
  samples = 0;

  /**
   * Yields the block's pieces as they are decoded, so a consumer can send the first ones before
   * the block is done; the block's closing checks run when the last piece has been taken. Pieces
   * that share a timestamp column share its array: pieces are read-only.
   *
   * The generator only drives: opening, each segment and the closing checks are methods of their
   * own. V8 compiles a generator's hot loop on the spot and again later, and compiles it anew
   * after the first block ends (code after the loop was never seen); with the work out of line,
   * each of those compiles is small (about a quarter of a cold restore's compile time before).
   */
  *decode(body: Uint8Array): Generator<SeriesPiece> {
    const block = this.open(body);
    for (let s = 0; s < block.segments; s++) yield this.segment(block, s);
    this.close(block);
  }

  private open(body: Uint8Array): OpenBlock {
    const r = new ByteReader(body, 0, body.length, 'block');
    const flags = r.uvarint();
    if (flags & ~(FLAG_RESET_STRINGS | FLAG_RESET_TIMESTAMPS | FLAG_CONTINUES)) throw corrupt('unknown block flags');
    const nSeg = r.uvarint();
    const nSamples = r.uvarint();
    if (nSeg === 0 || nSeg > LIMITS.maxBlockSegments || nSamples < nSeg || nSamples > LIMITS.maxBlockSamples) {
      throw corrupt(`block with ${nSeg} segments and ${nSamples} samples`);
    }
    // Built by push, not map or slice: arrays from those builtins change maps between calls,
    // and a map that compiled code has not seen deoptimises it.
    const sec: ByteReader[] = [];
    for (let i = 0; i < SECTIONS.length; i++) sec.push(r.sub(r.uvarint(), SECTIONS[i] as string));
    if (!r.atEnd()) throw corrupt('bytes after the last section of a block');
    // Indexed, not destructured: destructuring goes through the array iterator (the same).
    const section = (i: number): ByteReader => sec[i] as ByteReader;
    const strings = section(0);
    const tsColumns = section(3);
    const intPlanes: ByteReader[] = [];
    for (let i = 10; i < 17; i++) intPlanes.push(section(i));
    const floatPlanes: ByteReader[] = [];
    for (let i = 17; i < 25; i++) floatPlanes.push(section(i));

    if (flags & FLAG_RESET_STRINGS) {
      this.strings.length = 0;
      this.stringBytes = 0;
    }
    if (flags & FLAG_RESET_TIMESTAMPS) {
      this.tsCols.length = 0;
      this.tsBytes = 0;
    }
    while (!strings.atEnd()) {
      const bytes = strings.take(strings.uvarint());
      this.stringBytes += bytes.length + 8;
      if (this.stringBytes > LIMITS.maxDictionaryBytes) throw corrupt('string dictionary too large');
      let s: string;
      try {
        s = utf8Decoder.decode(bytes);
      } catch {
        throw corrupt('label text is not UTF-8');
      }
      this.strings.push(s);
    }
    const firstNewColumn = this.tsCols.length;
    while (!tsColumns.atEnd()) {
      const bytes = tsColumns.take(tsColumns.uvarint()).slice();
      this.tsBytes += bytes.length + 16;
      if (this.tsBytes > LIMITS.maxTimestampCacheBytes) throw corrupt('timestamp cache too large');
      this.tsCols.push(bytes);
    }
    return new OpenBlock(
      flags,
      nSeg,
      nSamples,
      sec,
      new ValueReaders(section(5), section(6), section(7), section(8), section(9), intPlanes, floatPlanes),
      firstNewColumn,
    );
  }

  private segment(block: OpenBlock, s: number): SeriesPiece {
    let labels: Labels;
    if (s === 0 && block.flags & FLAG_CONTINUES) {
      if (this.lastLabels === null) throw corrupt('first block continues a series');
      labels = this.lastLabels;
    } else {
      labels = this.readLabels(block.labels);
      this.series++;
    }
    const n = block.counts.uvarint();
    block.total += n;
    if (n === 0 || block.total > block.samples) throw corrupt('sample counts do not add up');
    const ref = block.tsRefs.uvarint();
    let ts = block.decodedCols.get(ref);
    if (ts === undefined) {
      const col = this.tsCols[ref];
      if (col === undefined) throw corrupt(`timestamp column ${ref} is not defined`);
      ts = decodeTimestamps(col);
      block.decodedCols.set(ref, ts);
    }
    if (ts.length !== n) throw corrupt('timestamp column length differs from the sample count');
    const values = decodeValues(block.values, n);
    this.lastLabels = labels;
    return { labels, timestamps: ts, values };
  }

  private close(block: OpenBlock): void {
    if (block.total !== block.samples) throw corrupt('sample counts do not add up');
    // Strings, labels, counts, timestamp columns and references; the value streams check themselves.
    for (let i = 0; i < 5; i++) {
      const x = block.sections[i] as ByteReader;
      if (!x.atEnd()) throw corrupt(`${x.what} has ${x.remaining} unread bytes`);
    }
    block.values.checkConsumed();
    // Every column defined in this block must have been used by it (the writer only adds used ones).
    for (let id = block.firstNewColumn; id < this.tsCols.length; id++) {
      if (!block.decodedCols.has(id)) throw corrupt('unused timestamp column');
    }
    this.blocks++;
    this.samples += block.samples;
  }

  private readLabels(r: ByteReader): Labels {
    const p = r.uvarint();
    const rest = r.uvarint();
    const prev = this.prevLabels;
    if (p > prev.length || rest > r.remaining) throw corrupt('bad label set');
    const out: Label[] = prev.slice(0, p);
    for (let i = 0; i < rest; i++) {
      const name = this.strings[r.uvarint()];
      const value = this.strings[r.uvarint()];
      if (name === undefined || value === undefined) throw corrupt('label refers to an unknown string');
      out.push({ name, value });
    }
    this.prevLabels = out;
    return out;
  }
}

const TS_LIMIT = 2 ** 50;

function decodeTimestamps(col: Uint8Array): Float64Array {
  const r = new ByteReader(col, 0, col.length, 'timestamp column');
  const n = r.uvarint();
  if (n === 0 || n > LIMITS.maxBlockSamples || n > col.length) throw corrupt('bad timestamp column');
  const out = new Float64Array(n);
  let t = r.svarint();
  if (!(t > -TS_LIMIT && t < TS_LIMIT)) throw corrupt('timestamp out of range');
  out[0] = t;
  let d = 0;
  for (let i = 1; i < n; i++) {
    d += r.svarint();
    t += d;
    if (d <= 0 || t >= TS_LIMIT) throw corrupt('timestamps not ascending or out of range');
    out[i] = t;
  }
  if (!r.atEnd()) throw corrupt('bytes after a timestamp column');
  return out;
}

/** A block being decoded: its section readers and how far its segments have got. */
class OpenBlock {
  readonly labels: ByteReader;
  readonly counts: ByteReader;
  readonly tsRefs: ByteReader;
  readonly decodedCols = new Map<number, Float64Array>();
  total = 0;

  constructor(
    readonly flags: number,
    readonly segments: number,
    readonly samples: number,
    readonly sections: readonly ByteReader[],
    readonly values: ValueReaders,
    readonly firstNewColumn: number,
  ) {
    this.labels = sections[1] as ByteReader;
    this.counts = sections[2] as ByteReader;
    this.tsRefs = sections[4] as ByteReader;
  }
}
