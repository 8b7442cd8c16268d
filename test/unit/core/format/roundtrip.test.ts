import { decodeShard, encodeShard, type EncodeOptions } from '../../../../lambdas/core/format';
import type { SeriesPiece } from '../../../../lambdas/core/types';
import {
  HOSTILE_BITS,
  bitsArray,
  bitsOf,
  collect,
  fromBits,
  labels,
  mergeSeries,
  piece,
  range,
  rng,
  roundTrip,
} from './helpers';

const STALE = 0x7ff0000000000002n;
const GO_NAN = 0x7ff8000000000001n;
const job = (name: string, extra: Record<string, string> = {}) => labels({ __name__: name, job: 'node', ...extra });

/** Values from numbers (never NaN here) with some raw patterns spliced in at given positions. */
function values(nums: readonly number[], raw: Record<number, bigint> = {}): Float64Array {
  const out = Float64Array.from(nums);
  const bits = bitsOf(out);
  for (const [i, b] of Object.entries(raw)) bits[Number(i)] = b;
  return out;
}

describe('shard format round trip', () => {
  test('every hostile bit pattern, alone, repeated and mixed, keeps its exact bits', async () => {
    const input: SeriesPiece[] = [];
    HOSTILE_BITS.forEach((b, i) => {
      // Alone (a one-sample series), constant (ConstRaw/ConstInt), and after ordinary values.
      input.push(piece(job('single', { i: String(i) }), [1000], fromBits(b)));
      input.push(piece(job('constant', { i: String(i) }), range(50), bitsArray(Array(50).fill(b))));
      input.push(piece(job('tail', { i: String(i) }), range(20), values(range(20, 0, 1), { 19: b })));
    });
    // All of them in one series, forwards and backwards.
    input.push(piece(job('all'), range(HOSTILE_BITS.length), bitsArray(HOSTILE_BITS)));
    input.push(piece(job('all-reversed'), range(HOSTILE_BITS.length), bitsArray([...HOSTILE_BITS].reverse())));
    const { stats } = await roundTrip(input);
    expect(stats.series).toBe(input.length);
    expect(stats.samples).toBe(input.reduce((n, p) => n + p.values.length, 0));
  });

  test('staleness markers and other NaNs inside integer and decimal series (exceptions)', async () => {
    const n = 500;
    const counter = values(
      range(n, 0, 1).map((i) => i * 3),
      { 100: STALE, 250: GO_NAN, 499: STALE },
    );
    const decimal = values(
      range(n, 0, 1).map((i) => Math.round(i * 1.37 * 100) / 100),
      { 0: STALE, 1: 0xfff8000000000000n, 300: 0x8000000000000000n },
    );
    const gauge = values(
      range(n, 0, 1).map((i) => (i % 7) * 1024),
      { 10: 0x7ff0000000000000n, 11: 0xfff0000000000000n },
    );
    const r = await roundTrip([
      piece(job('c'), range(n), counter),
      piece(job('d'), range(n), decimal),
      piece(job('g'), range(n), gauge),
    ]);
    expect(r.stats.kinds.int.segments).toBe(3);
    expect(r.stats.kinds.floatXor.segments).toBe(0);
  });

  test('integers, decimals, near decimals and arbitrary floats (every value codec)', async () => {
    const rand = rng(1);
    const n = 2000;
    const make = (f: (i: number) => number) => Float64Array.from({ length: n }, (_, i) => f(i));
    let sum = 0;
    const input = [
      piece(
        job('counter'),
        range(n),
        make((i) => i * 5 + Math.floor(rand() * 3)),
      ),
      piece(
        job('smooth'),
        range(n),
        make((i) => 1e12 + i * 1000),
      ),
      piece(
        job('pages'),
        range(n),
        make(() => Math.floor(rand() * 1e6) * 4096),
      ),
      piece(
        job('negative'),
        range(n),
        make(() => -Math.floor(rand() * 1e9)),
      ),
      piece(
        job('cents'),
        range(n),
        make((i) => Math.round((i * 0.37 + rand()) * 100) / 100),
      ),
      piece(
        job('micros'),
        range(n),
        make(() => Math.round(rand() * 1e6) / 1e6),
      ),
      piece(
        job('tiny'),
        range(n),
        make(() => Math.round(rand() * 1e4) / 1e15),
      ),
      // Sums of nanosecond durations: decimals with rounding noise (corrections).
      piece(
        job('sum'),
        range(n),
        make(() => (sum += Math.floor(rand() * 5e7) / 1e9)),
      ),
      piece(
        job('floats'),
        range(n),
        make(() => rand() * 1e6 - 5e5),
      ),
      piece(
        job('sine'),
        range(n),
        make((i) => Math.sin(i / 10)),
      ),
      piece(
        job('huge'),
        range(n),
        make(() => (rand() - 0.5) * 1e300),
      ),
      piece(
        job('near-limit'),
        range(n),
        make((i) => 2 ** 50 - 1 - (i % 3)),
      ),
      piece(
        job('over-limit'),
        range(n),
        make((i) => 2 ** 50 + i),
      ),
      piece(
        job('beyond-2^53'),
        range(n),
        make((i) => 2 ** 60 + i * 2 ** 10),
      ),
      piece(
        job('alternating'),
        range(n),
        make((i) => (i % 2 ? 0.1 + 0.2 : 0.3)),
      ),
      piece(
        job('denormals'),
        range(n),
        make((i) => Number.MIN_VALUE * (i + 1)),
      ),
    ];
    const r = await roundTrip(input);
    expect(r.stats.kinds.int.segments).toBeGreaterThan(0);
    expect(r.stats.kinds.floatXor.segments).toBeGreaterThan(0);
    // The near-decimal sum used corrections (section bytes of 'corrections' > 0).
    expect(r.stats.sectionBytes[8]).toBeGreaterThan(0);
  });

  test('every encoder tuning produces a stream that decodes exactly', async () => {
    const rand = rng(2);
    const n = 300;
    const input: SeriesPiece[] = [];
    for (let s = 0; s < 30; s++) {
      const kind = s % 5;
      const v = Float64Array.from({ length: n }, (_, i) =>
        kind === 0 ? i : kind === 1 ? Math.round(rand() * 1e4) / 100 : kind === 2 ? rand() : kind === 3 ? 7 : i * i,
      );
      if (s % 3 === 0) bitsOf(v)[n - 1] = STALE;
      input.push(piece(job('m', { s: String(s).padStart(2, '0') }), range(n), v));
    }
    const tunings: EncodeOptions['tuning'][] = [
      { decimal: false },
      { corrections: false },
      { exceptions: false },
      { gcd: false },
      { orders: [1] },
      { orders: [1, 2, 3], orderGain: 1 },
      { tsDedup: false },
      { labelPrefix: false },
      { maxExceptionShare: 0 },
      { tsCacheBytes: 0, dictionaryBytes: 0 },
    ];
    for (const tuning of tunings) await roundTrip(input, { tuning, blockSamples: 1024 });
  });

  test('one-sample series, an empty shard, and pieces without samples', async () => {
    const empty = await roundTrip([]);
    expect(empty.stats).toMatchObject({ series: 0, samples: 0, minTs: null, maxTs: null, blocks: 0 });
    expect(empty.decoded).toEqual([]);

    const onlyEmpty = await roundTrip([piece(job('x'), [], new Float64Array(0))]);
    expect(onlyEmpty.stats.series).toBe(0);

    const r = await roundTrip([
      piece(job('a'), [5], Float64Array.of(1.5)),
      piece(job('b'), [], new Float64Array(0)),
      piece(job('c'), [-7], fromBits(STALE)),
    ]);
    expect(r.stats).toMatchObject({ series: 2, samples: 2, minTs: -7, maxTs: 5 });
  });

  test('label text is kept byte for byte', async () => {
    const texts = [
      '',
      ' ',
      'ünïcödé',
      '日本語のラベル',
      '😀 emoji 👍🏽 and ZWJ 👨‍👩‍👧',
      'quotes " \' and \\ backslash',
      'new\nline\ttab\r\u0000nul',
      '\u2028\u2029\ufeff\uffff',
      'x'.repeat(100_000),
      'a=b,c="d"}',
    ];
    const input = texts.map((t, i) =>
      piece(labels({ __name__: `m${i}`, empty: '', [`k${i}_${t.length}`]: t, z: t }), [1, 2], Float64Array.of(i, i)),
    );
    // Unsorted and duplicate-free label sets given as-is are kept in their order too.
    input.push(
      piece(
        [
          { name: 'z', value: '1' },
          { name: 'a', value: '' },
        ],
        [1],
        Float64Array.of(0),
      ),
    );
    input.push(piece([], [1], Float64Array.of(0)));
    const r = await roundTrip(input);
    expect(r.decoded.map((p) => p.labels)).toEqual(input.map((p) => p.labels));
  });

  test('consecutive pieces with equal labels are one series; a later repeat is a new series', async () => {
    const a = job('a');
    const b = job('b');
    const input = [
      piece(a, [1, 2, 3], Float64Array.of(1, 2, 3)),
      piece(job('a'), [4], Float64Array.of(4)), // equal labels, different objects
      piece(a, [10, 20], values([5, 6], { 1: STALE })),
      piece(b, [1], Float64Array.of(9)),
      piece(a, [1], Float64Array.of(1)),
    ];
    const r = await roundTrip(input);
    expect(r.stats.series).toBe(3);
    expect(r.decoded.map((p) => [p.labels[0]?.value, p.timestamps.length])).toEqual([
      ['a', 6],
      ['b', 1],
      ['a', 1],
    ]);
  });

  test('a series bigger than a block comes back as consecutive pieces', async () => {
    const n = 10_000;
    const rand = rng(3);
    const ts = range(n, 1_000, 1_000).map((t) => t + Math.floor(rand() * 5));
    const v = Float64Array.from({ length: n }, () => Math.round(rand() * 1e5) / 1e3);
    bitsOf(v)[4000] = STALE;
    const input = [
      piece(job('small'), [1], Float64Array.of(1)),
      piece(job('big'), ts, v),
      piece(job('z'), [1], Float64Array.of(2)),
    ];
    const r = await roundTrip(input, { blockSamples: 1024 });
    const big = r.decoded.filter((p) => p.labels[0]?.value === 'big');
    expect(big.length).toBeGreaterThan(9);
    expect(big.reduce((s, p) => s + p.timestamps.length, 0)).toBe(n);
    expect(r.stats.series).toBe(3);
    expect(r.stats.blocks).toBe(Math.ceil((n + 2) / 1024));
  });

  test('many series sharing jittered timestamp columns across blocks', async () => {
    const rand = rng(4);
    const input: SeriesPiece[] = [];
    const targets = Array.from({ length: 20 }, (_, t) =>
      range(240, 1_700_000_000_000 + t * 700, 15_000).map((x) => x + Math.floor(rand() * 7) - 3),
    );
    for (let m = 0; m < 100; m++) {
      for (let t = 0; t < targets.length; t++) {
        const ts = targets[t] as number[];
        // Some series start late or end early: partial columns.
        const from = m % 10 === 0 ? 100 : 0;
        const to = m % 13 === 0 ? 200 : ts.length;
        const v = Float64Array.from({ length: to - from }, (_, i) => (m % 4 === 0 ? 1 : i * m + t));
        input.push(piece(job(`metric_${String(m).padStart(3, '0')}`, { instance: `t${t}` }), ts.slice(from, to), v));
      }
    }
    const r = await roundTrip(input, { blockSamples: 4096 });
    expect(r.stats.series).toBe(2000);
    // Shared columns make timestamps nearly free: far fewer column bytes than samples.
    expect(r.stats.sectionBytes[3]).toBeLessThan(r.stats.samples / 10);
    // Resetting the caches at every block still round-trips.
    await roundTrip(input, { blockSamples: 4096, tuning: { tsCacheBytes: 0, dictionaryBytes: 0 } });
  });

  test('integer differences of every byte width, at both edges of each', async () => {
    // Zigzagged differences take w bytes when |d| < 2^(8w-1): pick steps at and next to each edge,
    // both signs, so each width's decoding loop sees its largest values and its sign bit. (Seven
    // bytes would need values past the integer codec's range.)
    const rand = rng(3);
    const input = [1, 2, 3, 4, 5, 6].map((w) => {
      const edge = 2 ** (8 * w - 1);
      const steps = [edge - 1, -edge, edge - 2, -(edge - 1), 1, -1, 0];
      let m = 0;
      const vals = Float64Array.from({ length: 400 }, () => {
        const step = steps[Math.floor(rand() * steps.length)]!;
        // Stay within the format's integer range by turning back near it.
        m = Math.abs(m + step) < 2 ** 50 ? m + step : m - step;
        return m;
      });
      return piece(job('width', { w: String(w) }), range(400), vals);
    });
    const r = await roundTrip(input);
    expect(r.stats.kinds.int.segments).toBeGreaterThanOrEqual(6);
  });

  test('timestamps: negative, irregular, large gaps and the limits', async () => {
    const big = 2 ** 50 - 1;
    await roundTrip([
      piece(job('neg'), [-(2 ** 50) + 1, -1e12, -5, -1, 0, 1], Float64Array.of(1, 2, 3, 4, 5, 6)),
      piece(job('gaps'), [0, 1, 3, 1e6, 1e6 + 1, 1e12, big - 1, big], Float64Array.of(1, 2, 3, 4, 5, 6, 7, 8)),
    ]);
  });

  test.each([
    ['brotli', { codec: 'brotli' }],
    ['brotli q0 small window', { codec: 'brotli', level: 0, windowBits: 10 }],
    ['brotli q11', { codec: 'brotli', level: 11 }],
    ['zlib', { codec: 'zlib' }],
    ['none', { codec: 'none' }],
  ] as [string, EncodeOptions][])('codec %s', async (_name, opts) => {
    const rand = rng(5);
    const input = Array.from({ length: 50 }, (_, s) =>
      piece(
        job('m', { s: String(s) }),
        range(100),
        Float64Array.from({ length: 100 }, () => Math.floor(rand() * 100)),
      ),
    );
    const r = await roundTrip(input, opts, 7);
    expect(r.bytes[5]).toBe({ none: 0, brotli: 1, zlib: 2 }[opts.codec ?? 'brotli']);
  });

  test('randomized shards decode exactly, fed in chunks of any size', async () => {
    for (let seed = 10; seed < 16; seed++) {
      const rand = rng(seed);
      const input: SeriesPiece[] = [];
      const nSeries = 1 + Math.floor(rand() * 60);
      for (let s = 0; s < nSeries; s++) {
        const n = 1 + Math.floor(rand() ** 3 * 3000);
        let t = Math.floor(rand() * 1e12);
        const ts: number[] = [];
        for (let i = 0; i < n; i++) ts.push((t += 1 + Math.floor(rand() * (rand() < 0.9 ? 20 : 1e6))));
        const mode = Math.floor(rand() * 6);
        const v = Float64Array.from({ length: n }, (_, i) =>
          mode === 0
            ? Math.floor(rand() * 10)
            : mode === 1
              ? i * 1000 + Math.floor(rand() * 100)
              : mode === 2
                ? Math.round(rand() * 1e6) / 1e3
                : mode === 3
                  ? rand() * 2 - 1
                  : mode === 4
                    ? 42
                    : (i * 0.1 + 0.2) * 3,
        );
        const bits = bitsOf(v);
        for (let i = 0; i < n; i++) {
          if (rand() < 0.02) bits[i] = HOSTILE_BITS[Math.floor(rand() * HOSTILE_BITS.length)] as bigint;
        }
        // Split the series into random pieces.
        const l = job('rand', { s: String(s).padStart(3, '0'), seed: String(seed) });
        for (let i = 0; i < n;) {
          const k = 1 + Math.floor(rand() * (n - i));
          input.push({ labels: l, timestamps: Float64Array.from(ts.slice(i, i + k)), values: v.slice(i, i + k) });
          i += k;
        }
      }
      const blockSamples = 1024 + Math.floor(rand() * 4096);
      await roundTrip(input, { blockSamples, level: Math.floor(rand() * 6) }, 1 + Math.floor(rand() * 500));
    }
  });
});

describe('shard encoder streaming', () => {
  test('pulls pieces only as the body is read (back-pressure) and finishes stats at the end', async () => {
    let pulled = 0;
    const n = 20_000;
    async function* source(): AsyncGenerator<SeriesPiece> {
      for (let s = 0; s < 50; s++) {
        pulled++;
        const ts = range(n, 0, 1000);
        yield piece(
          job('m', { s: String(s) }),
          ts,
          Float64Array.from(ts, (t) => t / 1000),
        );
      }
    }
    const enc = encodeShard(source(), { blockSamples: 1 << 14 });
    const it = enc.body[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.done).toBe(false);
    expect(pulled).toBeLessThan(50);
    const rest: Uint8Array[] = [first.value as Uint8Array];
    for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value);
    expect(pulled).toBe(50);
    const stats = enc.stats();
    expect(stats).toMatchObject({ series: 50, samples: 50 * n, minTs: 0, maxTs: (n - 1) * 1000 });
    expect(stats.storedBytes).toBe(rest.reduce((a, c) => a + c.length, 0));
    expect(stats.rawBytes).toBeGreaterThan(stats.storedBytes);
    const decoded = mergeSeries(await collect(decodeShard(rest)));
    expect(decoded.length).toBe(50);
  });

  test('a reader that stops early closes the source', async () => {
    let closed = false;
    let pulled = 0;
    async function* source(): AsyncGenerator<SeriesPiece> {
      try {
        for (let s = 0; ; s++) {
          pulled++;
          const ts = range(2000, 0, 1000);
          yield piece(
            job('m', { s: String(s) }),
            ts,
            Float64Array.from(ts, (t) => (t * 7919) % 1000003),
          );
        }
      } finally {
        closed = true;
      }
    }
    // A small brotli window makes the compressor emit output early.
    for (const opts of [{ codec: 'brotli', windowBits: 16 }, { codec: 'none' }] as EncodeOptions[]) {
      closed = false;
      pulled = 0;
      let chunks = 0;
      for await (const _chunk of encodeShard(source(), { ...opts, blockSamples: 1024 }).body) {
        if (++chunks === 2) break; // the header, then a first piece of payload
      }
      expect(pulled).toBeGreaterThan(0);
      // Stream teardown is asynchronous.
      for (let i = 0; i < 100 && !closed; i++) await new Promise((r) => setTimeout(r, 10));
      expect(closed).toBe(true);
    }
  });

  test('the decoder yields pieces as blocks arrive and closes the body when stopped early', async () => {
    const input = Array.from({ length: 20 }, (_, s) =>
      piece(
        job('m', { s: String(s) }),
        range(1000),
        Float64Array.from({ length: 1000 }, (_, i) => i),
      ),
    );
    const enc = encodeShard(input, { blockSamples: 1024, codec: 'none' });
    const chunks = await collect(enc.body);
    let returned = false;
    let served = 0;
    const body: AsyncIterable<Uint8Array> = {
      [Symbol.asyncIterator]: () => ({
        next: async () =>
          served < chunks.length
            ? { done: false, value: chunks[served++] as Uint8Array }
            : { done: true, value: undefined },
        return: async () => {
          returned = true;
          return { done: true, value: undefined };
        },
      }),
    };
    let got = 0;
    for await (const p of decodeShard(body)) {
      expect(p.labels[2]?.value).toBe('0');
      if (++got === 1) break;
    }
    expect(served).toBeLessThan(chunks.length);
    expect(returned).toBe(true);
  });
});
