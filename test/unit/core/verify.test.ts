import { compareWithSource } from '../../../lambdas/core/verify';
import type { SeriesPiece } from '../../../lambdas/core/types';

const piece = (name: string, ts: number[], bits: bigint[]): SeriesPiece => ({
  labels: [{ name: '__name__', value: name }],
  timestamps: Float64Array.from(ts),
  values: new Float64Array(new BigUint64Array(bits).buffer),
});

async function* of(...pieces: SeriesPiece[]): AsyncGenerator<SeriesPiece> {
  yield* pieces;
}

describe('compareWithSource', () => {
  it('counts changed values, missing samples and missing series, bit for bit', async () => {
    const problems: string[] = [];
    const { mismatches } = await compareWithSource(
      of(piece('a', [1, 2], [0x3ff0000000000000n, 0x7ff8000000000001n])),
      of(piece('a', [1, 2, 3], [0x3ff0000000000000n, 0x7ff0000000000002n, 0n]), piece('b', [1], [0n])),
      problems,
    );
    expect(mismatches).toBe(3);
    expect(problems).toEqual([
      'a{}: value at 2 differs: backup 0x7ff8000000000001, source 0x7ff0000000000002',
      'a{}: sample at 3 is in the source but not in the backup',
      'b{}: in the source, not in the backup',
    ]);
  });

  it('finds nothing when a series arrives in pieces on one side only', async () => {
    const { mismatches } = await compareWithSource(
      of(piece('a', [1], [1n]), piece('a', [2], [2n])),
      of(piece('a', [1, 2], [1n, 2n])),
      [],
    );
    expect(mismatches).toBe(0);
  });
});

describe('failure lines with a long label value', () => {
  it('show the value cut to its start, an ellipsis and its length in bytes, once per line', async () => {
    const huge = 'x'.repeat(4096);
    const labelled = (ts: number[], bits: bigint[]): SeriesPiece => ({
      ...piece('up', ts, bits),
      labels: [
        { name: '__name__', value: 'up' },
        { name: 'blob', value: huge },
      ],
    });
    const problems: string[] = [];
    await compareWithSource(of(labelled([1, 2], [1n, 2n])), of(labelled([1, 2], [3n, 4n])), problems);
    expect(problems).toHaveLength(2);
    for (const line of problems) {
      expect(line).toContain(`up{blob="${'x'.repeat(120)}…" (4096 bytes)}: value at`);
      expect(line.length).toBeLessThan(300);
    }
  });
});
