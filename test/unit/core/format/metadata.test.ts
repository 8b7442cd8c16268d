import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CorruptShardError } from '../../../../lambdas/core/errors';
import { decodeShard, decodeShardBlocks } from '../../../../lambdas/core/format';
import type { MetricMetadata, SeriesPiece } from '../../../../lambdas/core/types';
import { v1ShardPieces } from '../../../fixtures/v1-shard';
import { assertSameSeries, collect, encodeToBytes, labels, mergeSeries, piece, range, roundTrip } from './helpers';

const FIXTURES = join(__dirname, '../../../fixtures/shards');

const meta = (metricFamilyName: string, type: MetricMetadata['type'], help = '', unit = ''): MetricMetadata => ({
  metricFamilyName,
  type,
  help,
  unit,
});

/** What the source reports: families of the shard, one it does not hold, and a duplicate. */
const SOURCE_METADATA: MetricMetadata[] = [
  meta('http_requests', 'counter', 'Requests served.'),
  meta('process_resident_memory_bytes', 'gauge', 'Resident memory "size"\nin bytes \\ pages.', 'bytes'),
  meta('request_seconds', 'histogram', 'Latency: ü', 'seconds'),
  meta('not_in_this_shard', 'gauge', 'Never stored.'),
  meta('temperature_celsius', 'unknown', 'Some target does not say.'),
  meta('temperature_celsius', 'gauge', 'Room temperature.', 'celsius'),
];

async function decodeWithMetadata(bytes: Uint8Array): Promise<{ pieces: SeriesPiece[]; metadata: MetricMetadata[] }> {
  const metadata: MetricMetadata[] = [];
  const pieces = await collect(decodeShard([bytes], { onMetadata: (m) => metadata.push(...m) }));
  return { pieces, metadata };
}

describe('format version 1 objects written before metadata existed', () => {
  test.each(['none', 'brotli'])('the committed %s fixture decodes to its series, bit for bit', async (codec) => {
    const bytes = readFileSync(join(FIXTURES, `v1-${codec}.pvs`));
    expect(bytes[4]).toBe(1);
    const { pieces, metadata } = await decodeWithMetadata(bytes);
    assertSameSeries(mergeSeries(pieces), mergeSeries(v1ShardPieces()));
    expect(metadata).toEqual([]);
  });

  test('without metadata the encoder still writes version 1, byte for byte as the old encoder', async () => {
    const old = readFileSync(join(FIXTURES, 'v1-none.pvs'));
    for (const metadata of [undefined, []]) {
      const { bytes, stats } = await encodeToBytes(v1ShardPieces(), { codec: 'none', metadata });
      expect(Buffer.from(bytes).equals(old)).toBe(true);
      expect(stats.metadataFamilies).toBe(0);
    }
  });

  test('a metadata record in a version 1 object is an unknown record', async () => {
    const { bytes } = await encodeToBytes(v1ShardPieces(), { codec: 'none', metadata: SOURCE_METADATA });
    const v1 = bytes.slice();
    v1[4] = 1;
    await expect(collect(decodeShard([v1]))).rejects.toThrow(/unknown record type 3/);
  });
});

describe('format version 2: metadata of the families a shard holds', () => {
  test.each(['none', 'brotli', 'zlib'] as const)('%s: round trip keeps samples and metadata', async (codec) => {
    const { bytes, stats } = await roundTrip(v1ShardPieces(), { codec, metadata: SOURCE_METADATA });
    expect(bytes[4]).toBe(2);
    expect(stats.metadataFamilies).toBe(4);
    const { pieces, metadata } = await decodeWithMetadata(bytes);
    assertSameSeries(mergeSeries(pieces), mergeSeries(v1ShardPieces()));
    // In the order of the families' first series; a counter's `_total` and a histogram's
    // `_bucket`/`_sum` series find their family; of two reports the known type wins.
    expect(metadata).toEqual([SOURCE_METADATA[0], SOURCE_METADATA[1], SOURCE_METADATA[2], SOURCE_METADATA[5]]);
  });

  test('a family reported under its sample name (text format `# TYPE x_total counter`) matches exactly', async () => {
    const { bytes } = await encodeToBytes(v1ShardPieces(), {
      metadata: [
        meta('http_requests_total', 'counter', 'Exact.'),
        meta('request_seconds_sum', 'gauge', 'Odd but exact.'),
      ],
    });
    expect((await decodeWithMetadata(bytes)).metadata.map((m) => m.metricFamilyName)).toEqual([
      'http_requests_total',
      'request_seconds_sum',
    ]);
  });

  test('a suffix finds a family only of a type that has it', async () => {
    const { bytes } = await encodeToBytes(v1ShardPieces(), {
      metadata: [meta('http_requests', 'gauge'), meta('request_seconds', 'summary')],
    });
    // A gauge has no _total samples; a summary has _sum but no _bucket.
    expect((await decodeWithMetadata(bytes)).metadata).toEqual([meta('request_seconds', 'summary')]);
  });

  test('metadata arrives before the block holding the family’s first series, once per object', async () => {
    // 1024-sample blocks: each family starts in a later block.
    const input = ['a', 'b', 'c', 'd'].flatMap((name) =>
      [0, 1, 2].map((j) => piece(labels({ __name__: name, j: String(j) }), range(700), Float64Array.from(range(700)))),
    );
    const metadata = ['a', 'b', 'c', 'd'].map((n) => meta(n, 'gauge', `help of ${n}`));
    const { bytes } = await encodeToBytes(input, { blockSamples: 1024, metadata });
    const events: string[] = [];
    for await (const block of decodeShardBlocks([bytes], {
      onMetadata: (m) => events.push(...m.map((e) => `meta ${e.metricFamilyName}`)),
    })) {
      for (const p of block) {
        const name = p.labels.find((l) => l.name === '__name__')!.value;
        if (events.at(-1) !== `series ${name}`) events.push(`series ${name}`);
      }
    }
    for (const name of ['a', 'b', 'c', 'd']) {
      expect(events.indexOf(`meta ${name}`)).toBeGreaterThanOrEqual(0);
      expect(events.indexOf(`meta ${name}`)).toBeLessThan(events.indexOf(`series ${name}`));
      expect(events.filter((e) => e === `meta ${name}`)).toHaveLength(1);
    }
  });

  test('a damaged metadata record is corruption, not lost metadata', async () => {
    const { bytes } = await encodeToBytes(v1ShardPieces(), { codec: 'none', metadata: SOURCE_METADATA });
    const at = bytes.indexOf(0x03, 8);
    expect(at).toBe(8); // the first record: the first block's families
    for (const offset of [7, 12, 30]) {
      const damaged = bytes.slice();
      damaged[at + offset]! ^= 0x20;
      await expect(collect(decodeShard([damaged]))).rejects.toThrow(CorruptShardError);
    }
  });

  test('metadata adds a few bytes per family, not per sample', async () => {
    const without = await encodeToBytes(v1ShardPieces());
    const withMeta = await encodeToBytes(v1ShardPieces(), { metadata: SOURCE_METADATA });
    const text = SOURCE_METADATA.reduce((n, m) => n + m.metricFamilyName.length + m.help.length + m.unit.length, 0);
    expect(withMeta.stats.storedBytes - without.stats.storedBytes).toBeLessThan(text + 32);
  });
});
