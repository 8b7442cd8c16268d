/** filter: keep only samples in [from, to) of series that match every selector of one of the selector groups. */
import type { LabelMatcher, SeriesPiece, TimeWindow } from '../types';
import { matchLabels, parseSelector } from '../prom/selector';
import type { ShardPart, ShardSlice } from './coverage';

/** Index of the first timestamp >= t (timestamps ascending). */
export function lowerBound(ts: Float64Array, t: number): number {
  let lo = 0;
  let hi = ts.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ts[mid]! < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function trimPiece(piece: SeriesPiece, window: TimeWindow): SeriesPiece | undefined {
  const ts = piece.timestamps;
  if (ts.length === 0) return undefined;
  if (ts[0]! >= window.startMs && ts[ts.length - 1]! < window.endMs) return piece;
  const a = lowerBound(ts, window.startMs);
  const b = lowerBound(ts, window.endMs);
  if (a >= b) return undefined;
  // subarray shares memory: no copy of values, so NaN payloads stay as stored.
  return { labels: piece.labels, timestamps: ts.subarray(a, b), values: piece.values.subarray(a, b) };
}

/** The samples of a piece a restore keeps, or undefined; remembers the last series' verdict. */
export class PieceFilter implements SampleFilter {
  private lastLabels: SeriesPiece['labels'] | undefined;
  private lastMatch = false;

  constructor(
    private readonly window: TimeWindow,
    private readonly selectorGroups: readonly (readonly LabelMatcher[])[],
  ) {}

  keep(piece: SeriesPiece): SeriesPiece | undefined {
    if (piece.labels !== this.lastLabels) {
      this.lastLabels = piece.labels;
      this.lastMatch =
        this.selectorGroups.length === 0 || this.selectorGroups.some((g) => matchLabels(piece.labels, g));
    }
    return this.lastMatch ? trimPiece(piece, this.window) : undefined;
  }
}

/** Keeps what a restore writes of each piece. */
export interface SampleFilter {
  keep(piece: SeriesPiece): SeriesPiece | undefined;
}

function countIn(ts: Float64Array, part: ShardPart): number {
  return part.endMs > part.startMs ? lowerBound(ts, part.endMs) - lowerBound(ts, part.startMs) : 0;
}

/**
 * The filter of one read of a shard whose window overlaps other shards' (see coverage.ts): of
 * the samples in range that match the selectors, keeps those of its part and counts, on the
 * read that counts for the shard, those that other shards supply instead.
 */
export class SliceFilter implements SampleFilter {
  /** Samples in range that another shard supplies. */
  duplicates = 0;
  private readonly inner: PieceFilter;
  private readonly skip: LabelMatcher[][];
  private readonly counted: { part: ShardPart; skip: LabelMatcher[][] }[] | undefined;
  private lastLabels: SeriesPiece['labels'] | undefined;
  private skipped = false;
  private supplied: ShardPart[] = [];

  constructor(
    window: TimeWindow,
    selectorGroups: readonly (readonly LabelMatcher[])[],
    private readonly slice: ShardSlice,
  ) {
    this.inner = new PieceFilter(window, selectorGroups);
    this.skip = slice.part.skip.map((s) => parseSelector(s));
    this.counted = slice.countOutside?.map((part) => ({ part, skip: part.skip.map((s) => parseSelector(s)) }));
  }

  keep(piece: SeriesPiece): SeriesPiece | undefined {
    const inRange = this.inner.keep(piece);
    if (inRange === undefined) return undefined;
    if (inRange.labels !== this.lastLabels) {
      this.lastLabels = inRange.labels;
      const matches = (groups: LabelMatcher[][]) => groups.some((g) => matchLabels(inRange.labels, g));
      this.skipped = matches(this.skip);
      this.supplied = (this.counted ?? []).filter((c) => !matches(c.skip)).map((c) => c.part);
    }
    if (this.counted !== undefined) {
      let supplied = 0;
      for (const part of this.supplied) supplied += countIn(inRange.timestamps, part);
      this.duplicates += inRange.timestamps.length - supplied;
    }
    return this.skipped ? undefined : trimPiece(inRange, this.slice.part);
  }
}

export async function* filterPieces(
  pieces: AsyncIterable<SeriesPiece>,
  window: TimeWindow,
  selectorGroups: readonly (readonly LabelMatcher[])[],
): AsyncGenerator<SeriesPiece> {
  const filter = new PieceFilter(window, selectorGroups);
  for await (const piece of pieces) {
    const kept = filter.keep(piece);
    if (kept) yield kept;
  }
}
