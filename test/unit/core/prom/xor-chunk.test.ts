import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readFrames } from '../../../../lambdas/core/prom/frames';
import { decodeChunkedReadResponse } from '../../../../lambdas/core/prom/prompb';
import { SampleBuffer } from '../../../../lambdas/core/prom/sample-buffer';
import {
  decodeXorChunk,
  encodeXorChunk,
  encodeXorChunks,
  xorChunkSampleCount,
} from '../../../../lambdas/core/prom/xor-chunk';
import { DecodeError } from '../../../../lambdas/core/prom/decode-error';
import { bitsOf, chunked, f64, hexBits, hostileBits, prng, STALE_NAN } from './helpers';

function decodeAll(data: Uint8Array, minT?: number, maxT?: number): SampleBuffer {
  const buf = new SampleBuffer(4);
  decodeXorChunk(data, buf, minT, maxT);
  return buf;
}

function roundTrip(ts: number[], bits: bigint[]): void {
  const timestamps = Float64Array.from(ts);
  const values = f64(bits);
  const data = encodeXorChunk(timestamps, values);
  expect(xorChunkSampleCount(data)).toBe(ts.length);
  const buf = decodeAll(data);
  expect(buf.length).toBe(ts.length);
  const sameTs = Buffer.from(buf.timestamps.buffer, 0, 8 * ts.length).equals(Buffer.from(timestamps.buffer));
  const sameValues = Buffer.from(buf.values.buffer, 0, 8 * ts.length).equals(Buffer.from(values.buffer));
  if (!sameTs) expect(Array.from(buf.timestamps.subarray(0, buf.length))).toEqual(ts);
  if (!sameValues) expect(bitsOf(buf.values.subarray(0, buf.length))).toEqual(bits);
}

describe('XOR chunks', () => {
  it('keeps the staleness marker and every NaN payload bit for bit', () => {
    const bits = [
      STALE_NAN,
      0x7ff8000000000001n,
      STALE_NAN,
      0xfff8000000000000n,
      0x7ff0000000000001n,
      0x7fffffffffffffffn,
      0xfff0000000000000n,
      0x8000000000000000n,
      0n,
      0x0000000000000001n,
      STALE_NAN,
    ];
    roundTrip(
      bits.map((_, i) => 1_700_000_000_000 + i * 15_000),
      bits,
    );
  });

  it('round-trips hostile values with timestamps in every delta-of-delta bucket', () => {
    // Deltas chosen so consecutive delta-of-deltas hit 0, the edges of the 14/17/20-bit
    // buckets on both sides, and the 64-bit bucket.
    const dods = [
      0,
      1,
      -1,
      8192,
      -8191,
      8193,
      -8192,
      65536,
      -65535,
      65537,
      -65536,
      524288,
      -524287,
      524289,
      -524288,
      2 ** 40,
      -(2 ** 40),
      0,
      0,
      3,
    ];
    const ts = [-5_000, -4_000];
    let delta = 1_000;
    for (const d of dods) {
      delta += d;
      if (delta <= 0) delta = 1 + Math.abs(d);
      ts.push(ts[ts.length - 1]! + delta);
    }
    const bits = hostileBits(ts.length, 7);
    roundTrip(ts, bits);
  });

  it('round-trips many random series, including 1, 2 and 65535 samples', () => {
    const rnd = prng(42);
    for (const n of [1, 2, 3, 119, 120, 121, 1000, 65535]) {
      const ts: number[] = [];
      let t = Math.floor(rnd() * 2 ** 41) - 2 ** 40;
      for (let i = 0; i < n; i++) {
        t += 1 + Math.floor(rnd() < 0.9 ? 15_000 + rnd() * 3 : rnd() * 2 ** 31);
        ts.push(t);
      }
      roundTrip(ts, hostileBits(n, n));
    }
  });

  it('encodes an empty chunk as its header alone and refuses more than 65535 samples', () => {
    const data = encodeXorChunk(new Float64Array(0), new Float64Array(0));
    expect(Array.from(data)).toEqual([0, 0]);
    expect(decodeAll(data).length).toBe(0);
    expect(() => encodeXorChunk(new Float64Array(65536), new Float64Array(65536))).toThrow(RangeError);
  });

  it('keeps only samples inside [minT, maxT) and appends after existing samples', () => {
    const ts = Float64Array.from({ length: 120 }, (_, i) => 1000 + i * 10);
    const values = f64(hostileBits(120, 3));
    const data = encodeXorChunk(ts, values);
    const buf = new SampleBuffer(2);
    buf.pushBits(1, 0x7ff00000, 2);
    expect(decodeXorChunk(data, buf, 1100, 1200)).toBe(10);
    expect(buf.length).toBe(11);
    expect(Array.from(buf.timestamps.subarray(1, 11))).toEqual(Array.from(ts.subarray(10, 20)));
    expect(bitsOf(buf.values.subarray(1, 11))).toEqual(bitsOf(values.subarray(10, 20)));
    expect(bitsOf(buf.values.subarray(0, 1))).toEqual([STALE_NAN]);
  });

  it('rejects truncated and malformed chunks with DecodeError', () => {
    const ts = Float64Array.from({ length: 50 }, (_, i) => i * 1000);
    const data = encodeXorChunk(ts, f64(hostileBits(50, 9)));
    expect(() => decodeAll(data.subarray(0, 1))).toThrow(DecodeError);
    for (const cut of [3, 10, data.length - 8]) {
      expect(() => decodeAll(data.subarray(0, cut))).toThrow(/ends inside sample/);
    }
    const lying = data.slice();
    lying[0] = 0xff; // claims 65k samples
    expect(() => decodeAll(lying)).toThrow(DecodeError);
  });

  it('cuts chunks of 120 samples like the Prometheus head', () => {
    const ts = Float64Array.from({ length: 250 }, (_, i) => i * 15_000);
    const chunks = encodeXorChunks(ts, new Float64Array(250));
    expect(chunks.map((c) => [c.minTimeMs, c.maxTimeMs, xorChunkSampleCount(c.data)])).toEqual([
      [0, 119 * 15_000, 120],
      [120 * 15_000, 239 * 15_000, 120],
      [240 * 15_000, 249 * 15_000, 10],
    ]);
  });

  describe('chunks written by Prometheus 2.42', () => {
    const fixture = (name: string) => new Uint8Array(readFileSync(join(__dirname, 'fixtures', name)));

    async function chunksOf(name: string) {
      const out: { labels: string; minTimeMs: number; maxTimeMs: number; data: Uint8Array }[] = [];
      for await (const msg of readFrames(chunked(fixture(name), 1 << 16))) {
        for (const s of decodeChunkedReadResponse(msg).series) {
          for (const c of s.chunks) {
            expect(c.type).toBe(1);
            out.push({ labels: s.labels.map((l) => `${l.name}=${l.value}`).join(','), ...c });
          }
        }
      }
      return out;
    }

    it('decodes backfilled block chunks to the samples that were backfilled', async () => {
      // The fixture is a streamed read of this OpenMetrics backfill (promtool tsdb create-blocks-from):
      //   m1{job="a",inst="x"}: 500 samples every 15 s from 2023-01-01, value 1.5 * i, except
      //     i=100 NaN, 101 +Inf, 102 -Inf, 103 -0;
      //   m1{job="b",inst="y"}: 300 samples at i*30 s + (i % 7) s + (i % 1000) ms, value 1e300 / (i + 1).
      const base = 1672531200000;
      const chunks = await chunksOf('prom242-blocks.streamed.bin');
      const series = new Map<string, SampleBuffer>();
      for (const c of chunks) {
        const buf = series.get(c.labels) ?? new SampleBuffer();
        series.set(c.labels, buf);
        const before = buf.length;
        decodeXorChunk(c.data, buf);
        expect(buf.timestamps[before]).toBe(c.minTimeMs);
        expect(buf.timestamps[buf.length - 1]).toBe(c.maxTimeMs);
        // Our encoder reproduces Prometheus' bytes exactly.
        const again = encodeXorChunk(buf.timestamps, buf.values, before, buf.length);
        expect(Buffer.from(again).equals(Buffer.from(c.data))).toBe(true);
      }
      const a = series.get('__name__=m1,inst=x,job=a')!;
      const b = series.get('__name__=m1,inst=y,job=b')!;
      expect(a.length).toBe(500);
      expect(b.length).toBe(300);
      const expectA = Float64Array.from({ length: 500 }, (_, i) => 1.5 * i);
      const bitsA = bitsOf(expectA);
      bitsA[100] = 0x7ff8000000000001n; // Go's math.NaN(), what strconv.ParseFloat("NaN") gives
      bitsA[101] = 0x7ff0000000000000n;
      bitsA[102] = 0xfff0000000000000n;
      bitsA[103] = 0x8000000000000000n;
      expect(bitsOf(a.values.subarray(0, 500))).toEqual(bitsA);
      expect(Array.from(a.timestamps.subarray(0, 500))).toEqual(
        Array.from({ length: 500 }, (_, i) => base + i * 15_000),
      );
      expect(Array.from(b.timestamps.subarray(0, 300))).toEqual(
        Array.from({ length: 300 }, (_, i) => base + i * 30_000 + (i % 7) * 1000 + i),
      );
      expect(Array.from(b.values.subarray(0, 300))).toEqual(Array.from({ length: 300 }, (_, i) => 1e300 / (i + 1)));
    });

    it('decodes head chunks holding staleness markers and NaN payloads written by remote write', async () => {
      // Written through Prometheus' remote-write receiver, then read back streamed.
      const start = 1795303740000;
      const n = 300;
      const ts = Float64Array.from({ length: n }, (_, i) => start + i * 10_000 + (i % 5 === 0 ? 1 : 0));
      const values = Float64Array.from({ length: n }, (_, i) => i * 0.1);
      const w = new Uint32Array(values.buffer);
      for (let i = 0; i < n; i++) {
        if (i % 17 === 3) [w[2 * i + 1], w[2 * i]] = [0x7ff00000, 2];
        if (i % 23 === 5) [w[2 * i + 1], w[2 * i]] = [(0xfff80000 | (i & 0xffff)) >>> 0, 0xdeadbeef];
        if (i % 29 === 7) [w[2 * i + 1], w[2 * i]] = [0x7ff00000, 0x12345];
        if (i === 9) [w[2 * i + 1], w[2 * i]] = [0x80000000, 0];
        if (i === 10) [w[2 * i + 1], w[2 * i]] = [0, 1];
      }
      const buf = new SampleBuffer();
      for (const c of await chunksOf('prom242-head.streamed.bin')) {
        expect(c.labels).toBe('__name__=hostile,k=ünï');
        const before = buf.length;
        decodeXorChunk(c.data, buf);
        const again = encodeXorChunk(buf.timestamps, buf.values, before, buf.length);
        expect(Buffer.from(again).equals(Buffer.from(c.data))).toBe(true);
      }
      expect(buf.length).toBe(n);
      expect(Array.from(buf.timestamps.subarray(0, n))).toEqual(Array.from(ts));
      expect(hexBits(buf.values.subarray(0, n))).toEqual(hexBits(values));
      expect(bitsOf(buf.values.subarray(3, 4))).toEqual([STALE_NAN]);
    });
  });
});
