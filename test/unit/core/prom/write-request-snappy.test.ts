/**
 * The WriteRequest written as snappy from its layout must uncompress, with any snappy decoder,
 * to exactly the bytes encodeWriteRequest writes: every value bit, every label byte.
 */
import { encodeWriteRequest, Scratch } from '../../../../lambdas/core/prom/prompb';
import { snappyUncompress } from '../../../../lambdas/core/prom/snappy';
import { encodeWriteRequestSnappy } from '../../../../lambdas/core/prom/write-request-snappy';
import type { Labels, SeriesPiece } from '../../../../lambdas/core/types';
import { f64, hostileBits, prng } from './helpers';

// snappyjs ships no types.
const snappyjs = require('snappyjs') as { compress(input: Uint8Array): Uint8Array };

/** Native snappy when installed (CI has it): a second, independent decoder. */
function nativeUncompress(): ((b: Buffer) => Buffer) | undefined {
  try {
    return (require('snappy') as { uncompressSync(b: Buffer): Buffer }).uncompressSync;
  } catch {
    return undefined;
  }
}
const native = nativeUncompress();

const T0 = Date.UTC(2026, 10, 22, 10, 0, 0);

function expectSameRequest(series: readonly SeriesPiece[], scratch?: Scratch): Uint8Array {
  const body = encodeWriteRequestSnappy(series, scratch);
  const expected = Buffer.from(encodeWriteRequest(series));
  expect(Buffer.from(snappyUncompress(body)).equals(expected)).toBe(true);
  if (native) expect(native(Buffer.from(body)).equals(expected)).toBe(true);
  return body;
}

function labels(name: string, extra: Record<string, string> = {}): Labels {
  return [{ name: '__name__', value: name }, ...Object.entries(extra).map(([n, value]) => ({ name: n, value }))];
}

/** Timestamps of a 1 s scrape with a few ms of jitter. */
function scrapes(n: number, start = T0, step = 1000, rnd = prng(1)): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => start + i * step + Math.floor(rnd() * 5));
}

describe('encodeWriteRequestSnappy', () => {
  it('writes hostile values bit for bit: staleness markers, NaN payloads, ±Inf, -0, repeats', () => {
    const n = 3000;
    expectSameRequest([
      { labels: labels('hostile', { job: 'a' }), timestamps: scrapes(n), values: f64(hostileBits(n, 7)) },
      { labels: labels('hostile', { job: 'b' }), timestamps: scrapes(n, T0 + 7), values: f64(hostileBits(n, 8)) },
    ]);
  });

  it('writes counters, constants and noisy gauges, and compresses them', () => {
    const n = 5000;
    const rnd = prng(2);
    let c = 1e6;
    const counter = Float64Array.from({ length: n }, () => (c += Math.floor(rnd() * 300)));
    const constant = new Float64Array(n).fill(1);
    const gauge = Float64Array.from({ length: n }, () => rnd() * 1e3);
    const ts = scrapes(n);
    const series = [
      { labels: labels('requests_total'), timestamps: ts, values: counter },
      { labels: labels('up'), timestamps: scrapes(n, T0 + 3), values: constant },
      { labels: labels('temperature'), timestamps: scrapes(n, T0 + 5), values: gauge },
    ];
    const body = expectSameRequest(series);
    const raw = encodeWriteRequest(series).length;
    // A searching compressor for scale: the layout's repeats must actually be found.
    const searched = snappyjs.compress(encodeWriteRequest(series)).length;
    expect(body.length).toBeLessThan(raw * 0.7);
    expect(body.length).toBeLessThan(searched * 1.5);
  });

  it('copies from a series scraped with it (same timestamps), near and more than 64 KiB back', () => {
    for (const n of [40, 5000]) {
      const ts = scrapes(n);
      const rnd = prng(n);
      const a = Float64Array.from({ length: n }, (_, i) => (i % 7 === 0 ? rnd() : 0));
      // Equal to a's in runs, different elsewhere: copies from a and from the previous sample alternate.
      const b = Float64Array.from({ length: n }, (_, i) => (i % 13 < 8 ? a[i]! : i));
      const body = expectSameRequest([
        { labels: labels('a'), timestamps: ts, values: a },
        { labels: labels('b'), timestamps: ts, values: b },
        { labels: labels('c'), timestamps: ts, values: a.slice() },
      ]);
      const alone = encodeWriteRequestSnappy([{ labels: labels('c'), timestamps: ts, values: a.slice() }]);
      // 'c' repeats 'a' whole: it costs a few copies, not another series' worth.
      const twoAlike = encodeWriteRequestSnappy([
        { labels: labels('a'), timestamps: ts, values: a },
        { labels: labels('c'), timestamps: ts, values: a.slice() },
      ]);
      expect(twoAlike.length - alone.length).toBeLessThan((18 * n) / 8 + 32);
      expect(body.length).toBeGreaterThan(0);
    }
  });

  it('handles runs too short to copy, duplicate timestamps and timestamps far apart', () => {
    const rnd = prng(3);
    for (let round = 0; round < 40; round++) {
      const n = 1 + Math.floor(rnd() * 300);
      let t = T0 + Math.floor(rnd() * 1e9);
      // Steps from 0 (a duplicate) to hours: the timestamp's equal high bytes go from 6 to 1.
      const ts = Float64Array.from(
        { length: n },
        () => (t += [0, 1, 127, 1000, 20_000, 3_000_000, 400_000_000][Math.floor(rnd() * 7)]!),
      );
      const bits = hostileBits(n, round);
      const shared = f64(bits);
      const other = f64(bits.map((b, i) => (rnd() < 0.5 ? b : b ^ BigInt(1 + i))));
      expectSameRequest([
        { labels: labels('x', { round: String(round) }), timestamps: ts, values: shared },
        { labels: labels('y', { round: String(round) }), timestamps: ts, values: other },
      ]);
    }
  });

  it('writes long and multibyte labels, empty requests and series without samples', () => {
    expectSameRequest([]);
    const long = 'ü✓'.repeat(200);
    expectSameRequest([
      { labels: labels('empty'), timestamps: new Float64Array(0), values: new Float64Array(0) },
      { labels: labels('long', { a: 'x'.repeat(61), b: long }), timestamps: scrapes(3), values: f64([1n, 2n, 3n]) },
      { labels: labels('longer', { c: 'y'.repeat(70_000) }), timestamps: scrapes(2), values: f64([1n, 1n]) },
    ]);
  });

  it('falls back for timestamps outside 1971-2109, and still writes them exactly', () => {
    for (const odd of [0, -1, 1_000, 2 ** 42 + 1]) {
      expectSameRequest([
        { labels: labels('normal'), timestamps: scrapes(10), values: f64(hostileBits(10, 1)) },
        {
          labels: labels('odd'),
          timestamps: Float64Array.from([T0, T0 + 1000]).map((x, i) => (i === 1 ? odd : x)),
          values: f64([1n, 2n]),
        },
      ]);
    }
  });

  it('rejects a series whose values and timestamps differ in count, as encodeWriteRequest does', () => {
    const bad = [{ labels: labels('bad'), timestamps: scrapes(3), values: new Float64Array(2) }];
    expect(() => encodeWriteRequestSnappy(bad)).toThrow(/3 timestamps but 2 values/);
  });

  it('returns a body of its own, not a view of the scratch it reuses', () => {
    const scratch = new Scratch();
    const one = [{ labels: labels('one'), timestamps: scrapes(100), values: f64(hostileBits(100, 5)) }];
    const first = expectSameRequest(one, scratch);
    const copy = Buffer.from(first);
    expectSameRequest([{ labels: labels('two'), timestamps: scrapes(200), values: f64(hostileBits(200, 6)) }], scratch);
    expect(Buffer.from(first).equals(copy)).toBe(true);
  });

  it('matches encodeWriteRequest on random requests', () => {
    const rnd = prng(11);
    for (let round = 0; round < 60; round++) {
      const columns = Array.from({ length: 1 + Math.floor(rnd() * 3) }, () =>
        scrapes(1 + Math.floor(rnd() * 400), T0 + Math.floor(rnd() * 1e7), 1 + Math.floor(rnd() * 60_000), rnd),
      );
      const series: SeriesPiece[] = [];
      const count = 1 + Math.floor(rnd() * 8);
      for (let s = 0; s < count; s++) {
        const ts = columns[Math.floor(rnd() * columns.length)]!;
        const earlier = series.filter((p) => p.timestamps === ts);
        const base =
          earlier.length > 0 && rnd() < 0.6
            ? earlier[earlier.length - 1]!.values
            : f64(hostileBits(ts.length, round * 10 + s));
        const values = Float64Array.from(base);
        const bits = new BigUint64Array(values.buffer);
        for (let i = 0; i < values.length; i++)
          if (rnd() < 0.3) bits[i] = bits[i]! ^ (1n << BigInt(Math.floor(rnd() * 64)));
        series.push({ labels: labels(`m${s}`, { round: String(round) }), timestamps: ts, values });
      }
      expectSameRequest(series);
    }
  });
});
