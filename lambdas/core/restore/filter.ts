/** filter: keep only samples in [from, to) of series that match every selector of one of the selector groups. */
import type { LabelMatcher, SeriesPiece, TimeWindow } from '../types';
import { matchLabels } from '../prom/selector';

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
export class PieceFilter {
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
