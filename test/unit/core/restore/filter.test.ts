import { filterPieces, lowerBound, trimPiece } from '../../../../lambdas/core/restore/filter';
import type { LabelMatcher, SeriesPiece } from '../../../../lambdas/core/types';

const p = (job: string, ts: number[]): SeriesPiece => ({
  labels: [
    { name: '__name__', value: 'up' },
    { name: 'job', value: job },
  ],
  timestamps: Float64Array.from(ts),
  values: Float64Array.from(ts, (t) => t / 10),
});

describe('filter', () => {
  it.each([
    [[], 5, 0],
    [[1, 3, 5], 0, 0],
    [[1, 3, 5], 3, 1],
    [[1, 3, 5], 4, 2],
    [[1, 3, 5], 6, 3],
  ])('lowerBound(%j, %d) = %d', (ts, t, want) => {
    expect(lowerBound(Float64Array.from(ts), t)).toBe(want);
  });

  it('trims to [start, end) without copying', () => {
    const piece = p('a', [10, 20, 30, 40]);
    const trimmed = trimPiece(piece, { startMs: 20, endMs: 40 })!;
    expect(Array.from(trimmed.timestamps)).toEqual([20, 30]);
    expect(trimmed.values.buffer).toBe(piece.values.buffer);
    expect(trimPiece(piece, { startMs: 41, endMs: 50 })).toBeUndefined();
    expect(trimPiece(piece, { startMs: 0, endMs: 100 })).toBe(piece);
  });

  it('keeps series matching any selector group', async () => {
    const api: LabelMatcher[] = [{ type: '=', name: 'job', value: 'api' }];
    const db: LabelMatcher[] = [{ type: '=~', name: 'job', value: 'd.*' }];
    async function* src() {
      yield p('api', [1]);
      yield p('web', [1]);
      yield p('db', [1]);
    }
    const jobs: string[] = [];
    for await (const x of filterPieces(src(), { startMs: 0, endMs: 10 }, [api, db])) jobs.push(x.labels[1]!.value);
    expect(jobs).toEqual(['api', 'db']);
  });
});
