import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as protobuf from 'protobufjs';
import {
  decodeChunkedReadResponse,
  decodeReadResponse,
  encodeReadRequest,
  encodeMetadataWriteRequest,
  encodeWriteRequest,
  RESPONSE_SAMPLES,
  RESPONSE_STREAMED_XOR_CHUNKS,
} from '../../../../lambdas/core/prom/prompb';
import {
  decodeReadRequest,
  decodeWriteRequest,
  decodeWriteRequestMetadata,
  encodeChunkedReadResponse,
  encodeReadResponse,
} from '../../../harness/prompb-server';
import { DecodeError } from '../../../../lambdas/core/prom/decode-error';
import { snappyUncompress } from '../../../../lambdas/core/prom/snappy';
import { METRIC_TYPES, type MetricMetadata, type SeriesPiece } from '../../../../lambdas/core/types';
import { bitsOf, f64, hostileBits, STALE_NAN } from './helpers';

// The reference schema, parsed by protobufjs' own reflection: our hand-written codecs must agree with it.
const root = protobuf.loadSync(join(__dirname, '../../../../lambdas/core/prom/prompb.proto'));
const T = (name: string) => root.lookupType(`prometheus.${name}`);
const asObject = (type: string, bytes: Uint8Array) =>
  T(type).toObject(T(type).decode(bytes), { longs: Number, enums: String, defaults: true, bytes: Array });

function piece(labels: Record<string, string>, ts: number[], bits: bigint[]): SeriesPiece {
  return {
    labels: Object.entries(labels).map(([name, value]) => ({ name, value })),
    timestamps: Float64Array.from(ts),
    values: f64(bits),
  };
}

const series: SeriesPiece[] = [
  piece(
    { __name__: 'up', instance: 'host:9100', job: 'ünïcødé 🚀' },
    [-1, 0, 1, 1_700_000_000_000, Number.MAX_SAFE_INTEGER],
    [STALE_NAN, 0x8000000000000000n, 0n, 0x7ff8000000000001n, 0x3ff0000000000000n],
  ),
  piece({ __name__: 'empty' }, [], []),
  piece({ a: '', b: 'x'.repeat(300) }, [5], [0xfff0000000000000n]),
];

describe('remote write', () => {
  it('encodes WriteRequest as the reference schema reads it', () => {
    const obj = asObject('WriteRequest', encodeWriteRequest(series)) as {
      timeseries: { labels: { name: string; value: string }[]; samples: { value: number; timestamp: number }[] }[];
    };
    expect(obj.timeseries).toHaveLength(3);
    expect(obj.timeseries[0]!.labels).toEqual(series[0]!.labels);
    expect(obj.timeseries[0]!.samples.map((s) => s.timestamp)).toEqual(Array.from(series[0]!.timestamps));
    expect(obj.timeseries[0]!.samples.slice(1).map((s) => s.value)).toEqual([-0, 0, NaN, 1]);
    expect(obj.timeseries[1]!.samples).toEqual([]);
    expect(obj.timeseries[2]!.labels).toEqual(series[2]!.labels);
  });

  it('encodes timestamps at the edges of the unrolled six-byte varint as the reference schema reads them', () => {
    const edges = [2 ** 35 - 1, 2 ** 35, 2 ** 35 + 1, 1_763_000_000_123, 2 ** 42 - 1, 2 ** 42, 2 ** 42 + 1];
    // Six-byte timestamps first, then one that is not: the series is rewritten with exact sizes.
    const late = [1_763_000_000_000, 1_763_000_001_000, 2 ** 42 + 5];
    const input = [
      piece(
        { a: 'b' },
        edges,
        edges.map(() => 0n),
      ),
      piece(
        { c: 'd' },
        late,
        late.map(() => 1n),
      ),
    ];
    const bytes = encodeWriteRequest(input);
    const obj = asObject('WriteRequest', bytes) as { timeseries: { samples: { timestamp: number }[] }[] };
    expect(obj.timeseries.map((t) => t.samples.map((s) => s.timestamp))).toEqual([edges, late]);
    expect(decodeWriteRequest(bytes).map((p) => Array.from(p.timestamps))).toEqual([edges, late]);
  });

  it('writes the raw little-endian bytes of the staleness marker and the sign of -0', () => {
    const bytes = Buffer.from(encodeWriteRequest([piece({ a: 'b' }, [1, 2], [STALE_NAN, 0x8000000000000000n])]));
    expect(bytes.includes(Buffer.from('09020000000000f07f', 'hex'))).toBe(true);
    expect(bytes.includes(Buffer.from('090000000000000080', 'hex'))).toBe(true);
  });

  it('round-trips through decodeWriteRequest bit for bit', () => {
    const many = Array.from({ length: 20 }, (_, s) =>
      piece(
        { __name__: `m${s}`, s: String(s) },
        Array.from({ length: 500 }, (_, i) => 1_600_000_000_000 + i * 15_000 + s),
        hostileBits(500, s),
      ),
    );
    for (const input of [series, many]) {
      const decoded = decodeWriteRequest(encodeWriteRequest(input));
      expect(decoded.map((p) => p.labels)).toEqual(input.map((p) => p.labels));
      expect(decoded.map((p) => Array.from(p.timestamps))).toEqual(input.map((p) => Array.from(p.timestamps)));
      expect(decoded.map((p) => bitsOf(p.values))).toEqual(input.map((p) => bitsOf(p.values)));
    }
  });

  it('decodes what the reference encoder writes, skipping fields it does not know', () => {
    const msg = T('WriteRequest').fromObject({
      timeseries: [
        { labels: [{ name: '__name__', value: 'x' }], samples: [{ value: 2.5, timestamp: 10 }, { timestamp: 20 }] },
      ],
    });
    const bytes = T('WriteRequest').encode(msg).finish();
    // Append an unknown field (metadata = 3) the way a newer sender might.
    const withMetadata = new Uint8Array([...bytes, 0x1a, 0x02, 0x08, 0x01]);
    const [p] = decodeWriteRequest(withMetadata);
    expect(p!.labels).toEqual([{ name: '__name__', value: 'x' }]);
    expect(Array.from(p!.timestamps)).toEqual([10, 20]);
    expect(Array.from(p!.values)).toEqual([2.5, 0]);
  });

  it('refuses timestamps that are not integers', () => {
    expect(() => encodeWriteRequest([piece({ a: 'b' }, [1.5], [0n])])).toThrow(RangeError);
  });

  it('fails with DecodeError on truncation and invalid UTF-8', () => {
    const bytes = encodeWriteRequest(series);
    for (const cut of [1, 5, 40, bytes.length - 1]) {
      expect(() => decodeWriteRequest(bytes.subarray(0, cut))).toThrow(DecodeError);
    }
    // TimeSeries { Label { name: 0xff } }
    const bad = Uint8Array.from([0x0a, 0x05, 0x0a, 0x03, 0x0a, 0x01, 0xff]);
    expect(() => decodeWriteRequest(bad)).toThrow(/not valid UTF-8/);
  });
});

describe('remote write metadata', () => {
  const metadata: MetricMetadata[] = METRIC_TYPES.map((type, i) => ({
    metricFamilyName: `family_${type}`,
    type,
    help: i === 0 ? '' : `Help of ${type}: ü "q" \\ \n`,
    unit: i === 2 ? 'bytes' : '',
  }));

  it('encodes WriteRequest.metadata as the reference schema reads it, enum numbers included', () => {
    const obj = asObject('WriteRequest', encodeMetadataWriteRequest(metadata)) as {
      timeseries: unknown[];
      metadata: { type: string; metricFamilyName: string; help: string; unit: string }[];
    };
    expect(obj.timeseries).toEqual([]);
    expect(obj.metadata).toEqual(
      metadata.map((m) => ({
        type: m.type.toUpperCase(),
        metricFamilyName: m.metricFamilyName,
        help: m.help,
        unit: m.unit,
      })),
    );
  });

  it('writes the exact bytes of a MetricMetadata message', () => {
    const bytes = encodeMetadataWriteRequest([{ metricFamilyName: 'up', type: 'gauge', help: 'Up.', unit: 's' }]);
    // field 3 (len 14): type=2, metric_family_name="up", help="Up.", unit="s"
    expect(Buffer.from(bytes).toString('hex')).toBe('1a0e' + '0802' + '12027570' + '2203' + '55702e' + '2a0173');
  });

  it('round-trips through the test receiver’s decoder', () => {
    expect(decodeWriteRequestMetadata(encodeMetadataWriteRequest(metadata))).toEqual(metadata);
    expect(decodeWriteRequestMetadata(encodeWriteRequest(series))).toEqual([]);
  });
});

describe('remote read', () => {
  it('encodes ReadRequest as the reference schema reads it', () => {
    const bytes = encodeReadRequest(
      [
        {
          startTimestampMs: 1_700_000_000_000,
          endTimestampMs: 1_700_003_599_999,
          matchers: [
            { type: '=', name: '__name__', value: 'up' },
            { type: '!=', name: 'a', value: '' },
            { type: '=~', name: 'job', value: 'api|web' },
            { type: '!~', name: 'instance', value: '10\\..*' },
          ],
        },
        {
          startTimestampMs: -5,
          endTimestampMs: 0,
          matchers: [],
          hints: { stepMs: 15, func: 'rate', grouping: ['a', 'b'], by: true },
        },
      ],
      [RESPONSE_STREAMED_XOR_CHUNKS, RESPONSE_SAMPLES],
    );
    expect(asObject('ReadRequest', bytes)).toEqual({
      queries: [
        {
          startTimestampMs: 1_700_000_000_000,
          endTimestampMs: 1_700_003_599_999,
          matchers: [
            { type: 'EQ', name: '__name__', value: 'up' },
            { type: 'NEQ', name: 'a', value: '' },
            { type: 'RE', name: 'job', value: 'api|web' },
            { type: 'NRE', name: 'instance', value: '10\\..*' },
          ],
          hints: null,
        },
        {
          startTimestampMs: -5,
          endTimestampMs: 0,
          matchers: [],
          hints: { stepMs: 15, func: 'rate', startMs: 0, endMs: 0, grouping: ['a', 'b'], by: true, rangeMs: 0 },
        },
      ],
      acceptedResponseTypes: ['STREAMED_XOR_CHUNKS', 'SAMPLES'],
    });
    const back = decodeReadRequest(bytes);
    expect(back.acceptedResponseTypes).toEqual([1, 0]);
    expect(back.queries[0]!.matchers[3]).toEqual({ type: '!~', name: 'instance', value: '10\\..*' });
    expect(back.queries[1]!.hints).toEqual({ stepMs: 15, func: 'rate', grouping: ['a', 'b'], by: true });
  });

  it('round-trips ReadResponse and agrees with the reference schema', () => {
    const bytes = encodeReadResponse([series, []]);
    const obj = asObject('ReadResponse', bytes) as { results: { timeseries: unknown[] }[] };
    expect(obj.results.map((r) => r.timeseries.length)).toEqual([3, 0]);
    const results = decodeReadResponse(bytes);
    expect(results).toHaveLength(2);
    expect(results[0]!.series.map((p) => bitsOf(p.values))).toEqual(series.map((p) => bitsOf(p.values)));
    expect(results[0]!.skippedHistograms).toBe(0);
  });

  it('counts native histogram samples it skips', () => {
    // QueryResult { TimeSeries { labels, histograms: {} } }
    const ts = Uint8Array.from([0x0a, 0x05, 0x0a, 0x01, 0x61, 0x12, 0x00, 0x22, 0x00]);
    const bytes = Uint8Array.from([0x0a, ts.length + 2, 0x0a, ts.length, ...ts]);
    const [result] = decodeReadResponse(bytes);
    expect(result!.skippedHistograms).toBe(1);
    expect(result!.series[0]!.timestamps.length).toBe(0);
  });

  it('round-trips ChunkedReadResponse and agrees with the reference schema', () => {
    const resp = {
      queryIndex: 3,
      series: [
        {
          labels: [
            { name: '__name__', value: 'up' },
            { name: 'job', value: 'é' },
          ],
          chunks: [
            { minTimeMs: 1, maxTimeMs: 2, type: 1, data: Uint8Array.from([0, 1, 2]) },
            { minTimeMs: Number.MAX_SAFE_INTEGER, maxTimeMs: -1, type: 2, data: new Uint8Array(0) },
          ],
        },
      ],
    };
    const bytes = encodeChunkedReadResponse(resp);
    const obj = asObject('ChunkedReadResponse', bytes) as {
      queryIndex: number;
      chunkedSeries: { chunks: { type: string; minTimeMs: number; data: number[] }[] }[];
    };
    expect(obj.queryIndex).toBe(3);
    expect(obj.chunkedSeries[0]!.chunks.map((c) => c.type)).toEqual(['XOR', 'HISTOGRAM']);
    expect(obj.chunkedSeries[0]!.chunks[0]!.data).toEqual([0, 1, 2]);
    const back = decodeChunkedReadResponse(bytes);
    expect(back.queryIndex).toBe(3);
    expect(back.series[0]!.labels).toEqual(resp.series[0]!.labels);
    expect(back.series[0]!.chunks.map((c) => [c.minTimeMs, c.maxTimeMs, c.type, Array.from(c.data)])).toEqual([
      [1, 2, 1, [0, 1, 2]],
      [Number.MAX_SAFE_INTEGER, -1, 2, []],
    ]);
  });

  it('decodes a SAMPLES response written by Prometheus 2.42', () => {
    const body = new Uint8Array(readFileSync(join(__dirname, 'fixtures', 'prom242-blocks.samples.bin')));
    const [result, ...rest] = decodeReadResponse(snappyUncompress(body));
    expect(rest).toEqual([]);
    expect(result!.series.map((p) => [p.labels.map((l) => l.value).join(','), p.timestamps.length])).toEqual([
      ['m1,x,a', 500],
      ['m1,y,b', 300],
    ]);
    const a = bitsOf(result!.series[0]!.values);
    expect(a[100]).toBe(0x7ff8000000000001n);
    expect(a[101]).toBe(0x7ff0000000000000n);
    // Prometheus omits zero values from Sample messages, so -0 arrives as +0 in this response type.
    expect(a[103]).toBe(0n);
  });
});
