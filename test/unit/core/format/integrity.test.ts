import { CorruptShardError, TransientError } from '../../../../lambdas/core/errors';
import { InvalidSeriesError, decodeShard, encodeShard, type EncodeOptions } from '../../../../lambdas/core/format';
import { crc32, crc32Portable } from '../../../../lambdas/core/format/crc32';
import type { SeriesPiece } from '../../../../lambdas/core/types';
import {
  assertSameSeries,
  bitsOf,
  collect,
  decodeBytes,
  encodeToBytes,
  labels,
  mergeSeries,
  piece,
  range,
  rng,
} from './helpers';

const STALE = 0x7ff0000000000002n;

// Hundreds of decodes per test; the machine running them may be busy.
jest.setTimeout(60_000);

/** A small shard spanning several blocks, with every value codec. */
function sample(): SeriesPiece[] {
  const rand = rng(9);
  const out: SeriesPiece[] = [];
  for (let s = 0; s < 6; s++) {
    const n = 250;
    const v = Float64Array.from({ length: n }, (_, i) =>
      s % 3 === 0 ? i * 2 : s % 3 === 1 ? Math.round(rand() * 1e4) / 100 : rand(),
    );
    bitsOf(v)[n - 1] = STALE;
    out.push(piece(labels({ __name__: 'm', s: String(s), text: 'ü😀' }), range(n), v));
  }
  return out;
}

async function decodeError(bytes: Uint8Array, chunk = 64): Promise<unknown> {
  try {
    await decodeBytes(bytes, chunk);
  } catch (e) {
    return e;
  }
  return undefined;
}

const CODECS: [string, EncodeOptions][] = [
  ['brotli', { codec: 'brotli', blockSamples: 1024, tuning: { tsCacheBytes: 0 } }],
  ['zlib', { codec: 'zlib', blockSamples: 1024 }],
  ['none', { codec: 'none', blockSamples: 1024 }],
];

describe('shard integrity', () => {
  test.each(CODECS)('%s: every truncation fails with CorruptShardError', async (_name, opts) => {
    const input = sample();
    const { bytes } = await encodeToBytes(input, opts);
    // Every prefix when small; else every prefix near both ends and a stride in between.
    const lengths = new Set<number>();
    for (let n = 0; n < bytes.length; n++) {
      if (n < 200 || n > bytes.length - 200 || n % 37 === 0) lengths.add(n);
    }
    for (const n of lengths) {
      const err = await decodeError(bytes.subarray(0, n));
      if (!(err instanceof CorruptShardError)) throw new Error(`prefix of ${n}/${bytes.length} bytes: ${String(err)}`);
    }
  });

  test.each(CODECS)('%s: a flipped bit fails with CorruptShardError or changes nothing', async (_name, opts) => {
    const input = sample();
    const { bytes } = await encodeToBytes(input, opts);
    const want = mergeSeries(input);
    const step = Math.max(1, Math.floor(bytes.length / 400));
    let detected = 0;
    for (let i = 0; i < bytes.length; i += step) {
      const bad = bytes.slice();
      bad[i] = (bad[i] as number) ^ (1 << (i % 8));
      const err = await decodeError(bad);
      if (err === undefined) {
        // A bit the compressed stream does not depend on: the data must be intact.
        assertSameSeries(mergeSeries(await decodeBytes(bad)), want);
      } else if (err instanceof CorruptShardError) {
        detected++;
      } else {
        throw new Error(`flip at byte ${i}: ${String(err)}`);
      }
    }
    expect(detected).toBeGreaterThan(0);
  });

  test.each(CODECS)('%s: bytes after the end fail with CorruptShardError', async (_name, opts) => {
    const { bytes } = await encodeToBytes(sample(), opts);
    for (const extra of [[0], [1, 2, 3], Array(5000).fill(0x55)]) {
      const err = await decodeError(Uint8Array.from([...bytes, ...extra]));
      expect(err).toBeInstanceOf(CorruptShardError);
    }
  });

  test('header problems are reported as such', async () => {
    const { bytes } = await encodeToBytes(sample(), { codec: 'none' });
    const with_ = (i: number, v: number) => {
      const b = bytes.slice();
      b[i] = v;
      return b;
    };
    await expect(decodeBytes(new Uint8Array(0))).rejects.toThrow(/truncated/);
    await expect(decodeBytes(bytes.subarray(0, 5))).rejects.toThrow(CorruptShardError);
    await expect(decodeBytes(with_(0, 0x50))).rejects.toThrow(/bad magic/);
    await expect(decodeBytes(with_(4, 3))).rejects.toThrow(/format version 3 is not supported/);
    await expect(decodeBytes(with_(5, 9))).rejects.toThrow(/unknown codec id 9/);
    await expect(decodeBytes(with_(7, 1))).rejects.toThrow(/reserved/);
    await expect(
      decodeBytes(new TextEncoder().encode('<?xml version="1.0"?><Error>AccessDenied</Error>')),
    ).rejects.toThrow(CorruptShardError);
  });

  test('a record claiming a huge block fails fast without allocating it', async () => {
    const head = (await encodeToBytes([], { codec: 'none' })).bytes.subarray(0, 8);
    const huge = Uint8Array.from([...head, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0]);
    await expect(decodeBytes(huge)).rejects.toThrow(/exceeds the limit/);
    const unknown = Uint8Array.from([...head, 0x07]);
    await expect(decodeBytes(unknown)).rejects.toThrow(/unknown record type/);
  });

  test('end record totals must match what was decoded', async () => {
    const one = [piece(labels({ a: 'b' }), [1, 2], Float64Array.of(1, 2))];
    const { bytes } = await encodeToBytes(one, { codec: 'none' });
    // The end record is the last 8 bytes: type, blocks, series, samples, crc32.
    const end = bytes.subarray(bytes.length - 8);
    expect(Array.from(end.subarray(0, 4))).toEqual([0x02, 1, 1, 2]);
    const forged = bytes.slice();
    forged[forged.length - 5] = 3; // 3 samples
    const crc = crc32(forged.subarray(forged.length - 8, forged.length - 4));
    new DataView(forged.buffer).setUint32(forged.length - 4, crc, true);
    await expect(decodeBytes(forged)).rejects.toThrow(/end record says 1 blocks, 1 series, 3 samples/);
  });

  test('mangled blocks with a valid CRC fail with CorruptShardError, never another error', async () => {
    const { bytes } = await encodeToBytes(sample(), { codec: 'none', blockSamples: 1024 });
    // Find the block records: type 0x01, varint length, crc32, body.
    const blocks: { crcAt: number; start: number; end: number }[] = [];
    for (let p = 8; bytes[p] === 0x01;) {
      let len = 0;
      let mul = 1;
      let q = p + 1;
      for (;;) {
        const b = bytes[q++] as number;
        len += (b & 0x7f) * mul;
        mul *= 128;
        if (b < 0x80) break;
      }
      blocks.push({ crcAt: q, start: q + 4, end: q + 4 + len });
      p = q + 4 + len;
    }
    expect(blocks.length).toBeGreaterThan(1);
    const rand = rng(77);
    let corrupt = 0;
    for (let trial = 0; trial < 600; trial++) {
      const bad = bytes.slice();
      const blk = blocks[trial % blocks.length] as (typeof blocks)[number];
      const flips = 1 + Math.floor(rand() * 4);
      for (let f = 0; f < flips; f++) {
        // Favour the front of the body, where counts, lengths and parameters live.
        const span = rand() < 0.5 ? Math.min(64, blk.end - blk.start) : blk.end - blk.start;
        const at = blk.start + Math.floor(rand() * span);
        bad[at] = rand() < 0.5 ? Math.floor(rand() * 256) : (bad[at] as number) ^ (1 << Math.floor(rand() * 8));
      }
      new DataView(bad.buffer).setUint32(blk.crcAt, crc32(bad.subarray(blk.start, blk.end)), true);
      const err = await decodeError(bad, 1 << 20);
      if (err === undefined) continue; // a mangling that still decodes (e.g. a changed value)
      if (!(err instanceof CorruptShardError)) throw new Error(`trial ${trial}: ${String(err)}`);
      corrupt++;
    }
    expect(corrupt).toBeGreaterThan(300);
  });

  test('errors of the body pass through unchanged', async () => {
    const { bytes } = await encodeToBytes(sample(), { blockSamples: 1024 });
    const boom = new TransientError('connection reset');
    async function* body(): AsyncGenerator<Uint8Array> {
      yield bytes.subarray(0, 100);
      throw boom;
    }
    await expect(collect(decodeShard(body()))).rejects.toBe(boom);
  });

  test('the decoder never hangs on a body that ends early in any chunking', async () => {
    const { bytes } = await encodeToBytes(sample(), { blockSamples: 1024 });
    for (const chunk of [1, 3, 1000]) {
      await expect(decodeBytes(bytes.subarray(0, bytes.length - 1), chunk)).rejects.toThrow(CorruptShardError);
    }
  });
});

describe('shard encoder input checks', () => {
  const l = labels({ __name__: 'x' });
  const bad: [string, SeriesPiece[], RegExp][] = [
    ['timestamps that go back', [piece(l, [1, 3, 2], Float64Array.of(1, 2, 3))], /must ascend strictly/],
    ['a repeated timestamp', [piece(l, [1, 1], Float64Array.of(1, 2))], /must ascend strictly/],
    [
      'a later piece that goes back',
      [piece(l, [5, 6], Float64Array.of(1, 2)), piece(labels({ __name__: 'x' }), [6], Float64Array.of(3))],
      /does not follow 6/,
    ],
    ['a NaN timestamp', [piece(l, [1, NaN], Float64Array.of(1, 2))], /not an integer/],
    ['a fractional timestamp', [piece(l, [1.5], Float64Array.of(1))], /not an integer/],
    ['a timestamp beyond 2^50', [piece(l, [2 ** 50], Float64Array.of(1))], /not an integer within/],
    ['more values than timestamps', [piece(l, [1], Float64Array.of(1, 2))], /1 timestamps but 2 values/],
    ['a lone surrogate in a label', [piece(labels({ a: 'x\ud800y' }), [1], Float64Array.of(1))], /lone surrogate/],
  ];
  test.each(bad)('rejects %s with InvalidSeriesError', async (_name, input, message) => {
    const enc = encodeShard(input);
    const err = await collect(enc.body).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidSeriesError);
    expect((err as Error).message).toMatch(message);
  });

  test('an error of the source makes reading the body fail with it', async () => {
    const boom = new TransientError('remote read failed');
    async function* source(): AsyncGenerator<SeriesPiece> {
      yield piece(labels({ a: 'b' }), range(10), new Float64Array(10));
      throw boom;
    }
    await expect(collect(encodeShard(source()).body)).rejects.toBe(boom);
    await expect(collect(encodeShard(source(), { codec: 'none' }).body)).rejects.toBe(boom);
  });

  test('options are checked', () => {
    expect(() => encodeShard([], { blockSamples: 10 })).toThrow(RangeError);
  });

  test('stats count series, samples, time range and bytes', async () => {
    const input = [
      piece(labels({ a: '1' }), [100, 200], Float64Array.of(1, 2)),
      piece(labels({ a: '1' }), [300], Float64Array.of(3)),
      piece(labels({ a: '2' }), [50, 60, 70], Float64Array.of(1, 1, 1)),
    ];
    const { bytes, stats } = await encodeToBytes(input);
    expect(stats).toMatchObject({ series: 2, samples: 6, minTs: 50, maxTs: 300, blocks: 1, storedBytes: bytes.length });
    expect(stats.rawBytes).toBeGreaterThan(8);
  });
});

describe('crc32', () => {
  test('the native and the portable implementation agree with the standard check value', () => {
    const check = new TextEncoder().encode('123456789');
    expect(crc32(check)).toBe(0xcbf43926);
    expect(crc32Portable(check)).toBe(0xcbf43926);
    const rand = rng(1);
    const data = Uint8Array.from({ length: 10_000 }, () => Math.floor(rand() * 256));
    expect(crc32Portable(data)).toBe(crc32(data));
  });
});
