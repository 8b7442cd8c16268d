import {
  formatTimestampSeconds,
  formatValue,
  toOpenMetrics,
  type ExportCounts,
} from '../../../../lambdas/core/restore/export-openmetrics';
import { MetadataIndex } from '../../../../lambdas/core/metadata';
import type { MetricMetadata, SeriesPiece } from '../../../../lambdas/core/types';

const fromBits = (b: bigint) => new Float64Array(new BigUint64Array([b]).buffer)[0]!;

async function collect(
  pieces: SeriesPiece[],
  metadata?: MetadataIndex,
): Promise<{ text: string; counts: ExportCounts }> {
  const counts: ExportCounts = { samples: 0, series: 0, stale_markers_dropped: 0 };
  async function* src() {
    yield* pieces;
  }
  let text = '';
  for await (const t of toOpenMetrics(src(), counts, { chunkChars: 10, metadata })) text += t;
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

  describe('metric metadata', () => {
    const meta = (metricFamilyName: string, type: MetricMetadata['type'], help = '', unit = ''): MetricMetadata => ({
      metricFamilyName,
      type,
      help,
      unit,
    });
    const series = (name: string, extra: Record<string, string> = {}): SeriesPiece => ({
      labels: [{ name: '__name__', value: name }, ...Object.entries(extra).map(([n, value]) => ({ name: n, value }))],
      timestamps: Float64Array.from([1000, 2000]),
      values: Float64Array.from([1, 2]),
    });
    const typeLines = (text: string) => text.split('\n').filter((l) => l.startsWith('# ') && l !== '# EOF');

    it('writes # TYPE, # UNIT and # HELP once per family, before its first sample, help escaped', async () => {
      const index = new MetadataIndex([
        meta('http_requests', 'counter', 'Requests "served"\nper \\ code.'),
        meta('latency_seconds', 'histogram', 'Latency.', 'seconds'),
      ]);
      const { text, counts } = await collect(
        [
          series('http_requests_total', { code: '200' }),
          series('http_requests_total', { code: '500' }),
          series('latency_seconds_bucket', { le: '+Inf' }),
          series('latency_seconds_count'),
          series('latency_seconds_sum'),
          series('no_metadata'),
          series('http_requests_total', { code: '200' }), // a later shard
        ],
        index,
      );
      const lines = text.split('\n');
      expect(lines.slice(0, 3)).toEqual([
        '# TYPE http_requests counter',
        '# HELP http_requests Requests \\"served\\"\\nper \\\\ code.',
        'http_requests_total{code="200"} 1 1',
      ]);
      const latency = lines.indexOf('# TYPE latency_seconds histogram');
      expect(lines.slice(latency, latency + 4)).toEqual([
        '# TYPE latency_seconds histogram',
        '# UNIT latency_seconds seconds',
        '# HELP latency_seconds Latency.',
        'latency_seconds_bucket{le="+Inf"} 1 1',
      ]);
      expect(typeLines(text)).toHaveLength(5);
      expect(counts.metadata_families).toBe(2);
    });

    it('a family stored under its sample name is written under its OpenMetrics name', async () => {
      const { text } = await collect(
        [series('up'), series('jobs_total')],
        new MetadataIndex([meta('up', 'gauge', 'Up.'), meta('jobs_total', 'counter', 'Jobs.')]),
      );
      expect(typeLines(text)).toEqual(['# TYPE up gauge', '# HELP up Up.', '# TYPE jobs counter', '# HELP jobs Jobs.']);
    });

    it('metadata that OpenMetrics would reject is left out, never written wrong', async () => {
      const { text, counts } = await collect(
        [series('legacy_counter'), series('temperature'), series('odd_bucket', { le: '1' })],
        new MetadataIndex([
          // A text-format counter without _total: as a counter it would be invalid.
          meta('legacy_counter', 'counter', 'Old style.'),
          // A unit that is not the name's suffix, and an empty help.
          meta('temperature', 'gauge', '', 'celsius'),
          meta('odd', 'histogram', 'Histogram.'),
        ]),
      );
      expect(typeLines(text)).toEqual(['# TYPE temperature gauge', '# TYPE odd histogram', '# HELP odd Histogram.']);
      expect(counts.metadata_families).toBe(2);
    });
  });
});
