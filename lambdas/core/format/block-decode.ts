/**
 * Block reader: decodes block bodies, the twin of block-encode.ts (see block-format.ts, docs/FORMAT.md).
 */
import type { Label, Labels, SeriesPiece } from '../types';
import { ByteReader, corrupt } from './bytes';
import { emptyObjectArray } from '../arrays';
import { FLAG_CONTINUES, FLAG_RESET_STRINGS, FLAG_RESET_TIMESTAMPS, LIMITS, SECTIONS } from './block-format';
import { ValueReaders, decodeValues } from './values-decode';

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
