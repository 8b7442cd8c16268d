import { advanceCheckpoint } from '../../../../lambdas/core/backup/checkpoint';
import type { TimeWindow } from '../../../../lambdas/core/types';

const H = 3_600_000;
const T0 = Date.UTC(2026, 10, 21);

/** Windows [T0 + a*H, T0 + b*H) from [a, b] pairs. */
function w(...pairs: [number, number][]): TimeWindow[] {
  return pairs.map(([a, b]) => ({ startMs: T0 + a * H, endMs: T0 + b * H }));
}
const at = (hours: number) => T0 + hours * H;

const PLANNED = w([0, 1], [1, 2], [2, 3], [3, 4]);

describe('advanceCheckpoint', () => {
  test.each<[string, number | undefined, TimeWindow[], TimeWindow[], number | undefined]>([
    ['first run, everything committed', undefined, PLANNED, PLANNED, at(4)],
    ['first run, a gap in the middle stops at the gap', undefined, w([0, 1], [1, 2], [3, 4]), PLANNED, at(2)],
    ['first run, the first window failed: no checkpoint', undefined, w([1, 2], [2, 3], [3, 4]), PLANNED, undefined],
    ['first run, nothing committed', undefined, [], PLANNED, undefined],
    ['first run, nothing planned', undefined, w([0, 1]), [], undefined],
    ['previous checkpoint, contiguous continuation', at(2), w([2, 3], [3, 4]), w([2, 3], [3, 4]), at(4)],
    ['previous checkpoint, next window failed: unchanged', at(2), w([3, 4]), w([2, 3], [3, 4]), at(2)],
    ['previous checkpoint, nothing committed: unchanged', at(2), [], w([2, 3]), at(2)],
    // Windows before the checkpoint change nothing; the checkpoint never moves back.
    ['windows before the checkpoint are ignored', at(3), w([0, 1], [1, 2]), PLANNED, at(3)],
    ['a window overlapping the checkpoint advances it', at(3), w([2, 4]), PLANNED, at(4)],
    ['committed windows are order-independent', undefined, w([3, 4], [1, 2], [0, 1], [2, 3]), PLANNED, at(4)],
    ['mixed shard lengths chain', undefined, w([0, 2], [2, 3], [3, 6]), w([0, 1]), at(6)],
    ['nested windows do not shorten the run', undefined, w([0, 4], [1, 2]), PLANNED, at(4)],
    ['duplicates are harmless', undefined, w([0, 1], [0, 1], [1, 2]), PLANNED, at(2)],
    [
      'the run starts at the earliest planned window, in any order',
      undefined,
      w([0, 1], [1, 2]),
      w([1, 2], [0, 1]),
      at(2),
    ],
    // Committed windows beyond the plan (an earlier run) extend the run when contiguous.
    ['contiguous windows beyond the plan count', undefined, w([0, 1], [1, 2], [2, 3], [3, 4], [4, 5]), PLANNED, at(5)],
    ['empty windows are ignored', at(1), [{ startMs: at(1), endMs: at(1) }], PLANNED, at(1)],
  ])('%s', (_name, previous, committed, planned, expected) => {
    expect(advanceCheckpoint(previous, committed, planned)).toBe(expected);
  });

  test('does not mutate its inputs', () => {
    const committed = w([2, 3], [0, 1], [1, 2]);
    const copy = committed.map((x) => ({ ...x }));
    advanceCheckpoint(undefined, committed, PLANNED);
    expect(committed).toEqual(copy);
  });
});
