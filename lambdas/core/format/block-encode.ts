/**
 * Block writer: encodes buffered segments as block records (see block-format.ts, docs/FORMAT.md).
 */
import { PermanentError } from '../errors';
import type { Label, Labels } from '../types';
import { ByteWriter, uvarintLen } from './bytes';
import { crc32 } from './crc32';
import { emptyObjectArray } from '../arrays';
import { FLAG_CONTINUES, FLAG_RESET_STRINGS, FLAG_RESET_TIMESTAMPS, RECORD_BLOCK, SECTIONS } from './block-format';
import { DEFAULT_VALUE_TUNING, ValueScratch, ValueStreams, encodeValues, type ValueTuning } from './values-encode';

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
