/**
 * A set of samples keyed by series and timestamp: what snapshots of a /federate capture add up
 * to. A sample seen in two snapshots (same series, same timestamp) is kept once; where the
 * values differ the first one added wins and is counted. Values travel as bit patterns, so NaN
 * payloads and -0 survive.
 */
import { compareLabels, formatLabels } from '../labels';
import type { Labels, SeriesPiece } from '../types';

interface Series {
  readonly labels: Labels;
  timestamps: number[];
  bits: BigUint64Array;
}

export class SeriesSet {
  private readonly series = new Map<string, Series>();
  private added = 0;

  /** Samples that repeated a stored (series, timestamp) with another value; the first value was kept. */
  conflicts = 0;

  /** Adds sample `index` of `values` (kept bit for bit) at `timestampMs` to the series `labels`. */
  add(labels: Labels, timestampMs: number, values: Float64Array, index: number): void {
    const key = formatLabels(labels);
    let s = this.series.get(key);
    if (s === undefined) this.series.set(key, (s = { labels, timestamps: [], bits: new BigUint64Array(4) }));
    const n = s.timestamps.length;
    if (n === s.bits.length) {
      const grown = new BigUint64Array(n * 2);
      grown.set(s.bits);
      s.bits = grown;
    }
    s.bits[n] = new BigUint64Array(values.buffer, values.byteOffset, values.length)[index]!;
    s.timestamps.push(timestampMs);
    this.added++;
  }

  addPiece(piece: SeriesPiece): void {
    for (let i = 0; i < piece.timestamps.length; i++) this.add(piece.labels, piece.timestamps[i]!, piece.values, i);
  }

  /** Samples added, duplicates included. */
  get addedSamples(): number {
    return this.added;
  }

  /**
   * Every series in label-set order, timestamps strictly ascending, each (series, timestamp)
   * once. Counts `conflicts` as it goes, so call it once.
   */
  pieces(): SeriesPiece[] {
    const out: SeriesPiece[] = [];
    for (const s of this.series.values()) out.push(this.toPiece(s));
    return out.sort((a, b) => compareLabels(a.labels, b.labels));
  }

  private toPiece(s: Series): SeriesPiece {
    const order = s.timestamps.map((_, i) => i);
    // Stable: of equal timestamps the first added stays first, and is the one kept.
    order.sort((a, b) => s.timestamps[a]! - s.timestamps[b]!);
    const timestamps: number[] = [];
    const bits: bigint[] = [];
    for (const i of order) {
      const t = s.timestamps[i]!;
      const b = s.bits[i]!;
      if (timestamps.length > 0 && timestamps[timestamps.length - 1] === t) {
        if (bits[bits.length - 1] !== b) this.conflicts++;
        continue;
      }
      timestamps.push(t);
      bits.push(b);
    }
    const values = new Float64Array(bits.length);
    new BigUint64Array(values.buffer).set(bits);
    return { labels: s.labels, timestamps: Float64Array.from(timestamps), values };
  }
}
