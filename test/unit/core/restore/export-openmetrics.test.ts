import {
  formatTimestampSeconds,
  formatValue,
  toOpenMetrics,
  type ExportCounts,
} from '../../../../lambdas/core/restore/export-openmetrics';
import type { SeriesPiece } from '../../../../lambdas/core/types';

const fromBits = (b: bigint) => new Float64Array(new BigUint64Array([b]).buffer)[0]!;

async function collect(pieces: SeriesPiece[]): Promise<{ text: string; counts: ExportCounts }> {
  const counts: ExportCounts = { samples: 0, series: 0, stale_markers_dropped: 0 };
  async function* src() {
    yield* pieces;
  }
  let text = '';
  for await (const t of toOpenMetrics(src(), counts, 10)) text += t;
  return { text, counts };
}

describe('OpenMetrics export', () => {
  it('formats values so Go parses them back to the same float', () => {
    expect(formatValue(-0)).toBe('-0');
    expect(formatValue(0)).toBe('0');
    expect(formatValue(Infinity)).toBe('+Inf');
    expect(formatValue(-Infinity)).toBe('-Inf');
    expect(formatValue(NaN)).toBe('NaN');
    expect(formatValue(0.1 + 0.2)).toBe('0.30000000000000004');
    expect(formatValue(1e21)).toBe('1e+21');
    expect(Number(formatValue(5e-324))).toBe(5e-324);
  });

  it('writes timestamps in seconds with millisecond precision', () => {
    expect(formatTimestampSeconds(1700000000000)).toBe('1700000000');
    expect(formatTimestampSeconds(1700000000005)).toBe('1700000000.005');
    expect(formatTimestampSeconds(1700000000120)).toBe('1700000000.120');
  });

  it('escapes label values, leaves out staleness markers and ends with # EOF', async () => {
    const values = new Float64Array(3);
    values[0] = 1;
    values[1] = fromBits(0x7ff0000000000002n);
    values[2] = fromBits(0x7ff8000000000001n);
    const { text, counts } = await collect([
      {
        labels: [
          { name: '__name__', value: 'x' },
          { name: 'path', value: 'a"b\\c\nd' },
        ],
        timestamps: Float64Array.from([1000, 2000, 3000]),
        values,
      },
    ]);
    expect(text).toBe('x{path="a\\"b\\\\c\\nd"} 1 1\nx{path="a\\"b\\\\c\\nd"} NaN 3\n# EOF\n');
    expect(counts).toEqual({ samples: 2, series: 1, stale_markers_dropped: 1 });
  });
});
