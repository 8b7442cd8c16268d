import {
  newReadStats,
  normalizeSamples,
  piecesFromStream,
  trimPiece,
} from '../../../../lambdas/core/prom/chunks-to-pieces';
import { DecodeError } from '../../../../lambdas/core/prom/decode-error';
import { encodeFrame } from '../../../../lambdas/core/prom/frames';
import type { ChunkMessage } from '../../../../lambdas/core/prom/prompb';
import { encodeChunkedReadResponse } from '../../../harness/prompb-server';
import { SampleBuffer } from '../../../../lambdas/core/prom/sample-buffer';
import { encodeXorChunks } from '../../../../lambdas/core/prom/xor-chunk';
import type { Label, SeriesPiece } from '../../../../lambdas/core/types';
import { bitsOf, chunked, collect, concatBytes, f64, hostileBits, prng } from './helpers';

interface Series {
  labels: Label[];
  timestamps: Float64Array;
  values: Float64Array;
}

function makeSeries(name: string, n: number, start: number, step: number, seed: number): Series {
  return {
    labels: [
      { name: '__name__', value: name },
      { name: 'job', value: 'j' },
    ],
    timestamps: Float64Array.from({ length: n }, (_, i) => start + i * step + (i % 3)),
    values: f64(hostileBits(n, seed)),
  };
}

/** Frames carrying the series' chunks, `chunksPerFrame` at a time, as Prometheus splits a series. */
function framesOf(
  series: Series[],
  chunksPerFrame = Infinity,
  extra: (s: Series) => ChunkMessage[] = () => [],
): Uint8Array {
  const frames: Uint8Array[] = [];
  for (const s of series) {
    const chunks: ChunkMessage[] = [
      ...encodeXorChunks(s.timestamps, s.values).map((c) => ({ ...c, type: 1 })),
      ...extra(s),
    ];
    for (let i = 0; i < chunks.length || i === 0; i += chunksPerFrame) {
      const part = chunks.slice(i, i + chunksPerFrame);
      frames.push(
        encodeFrame(encodeChunkedReadResponse({ queryIndex: 0, series: [{ labels: s.labels, chunks: part }] })),
      );
      if (chunksPerFrame === Infinity) break;
    }
  }
  return concatBytes(frames);
}

/** Concatenates consecutive pieces with identical labels, checking they ascend. */
function merge(pieces: SeriesPiece[]): { labels: string; timestamps: number[]; bits: bigint[] }[] {
  const out: { labels: string; timestamps: number[]; bits: bigint[] }[] = [];
  for (const p of pieces) {
    const key = JSON.stringify(p.labels);
    const last = out[out.length - 1];
    const target = last && last.labels === key ? last : { labels: key, timestamps: [], bits: [] };
    if (target !== last) out.push(target);
    const prev = target.timestamps[target.timestamps.length - 1] ?? -Infinity;
    expect(p.timestamps[0]!).toBeGreaterThan(prev);
    target.timestamps.push(...p.timestamps);
    target.bits.push(...bitsOf(p.values));
  }
  return out;
}

function expected(series: Series[], startMs: number, endMs: number) {
  return series
    .map((s) => {
      const idx = Array.from(s.timestamps.keys()).filter(
        (i) => s.timestamps[i]! >= startMs && s.timestamps[i]! < endMs,
      );
      return {
        labels: JSON.stringify(s.labels),
        timestamps: idx.map((i) => s.timestamps[i]!),
        bits: idx.map((i) => bitsOf(s.values)[i]!),
      };
    })
    .filter((s) => s.timestamps.length > 0);
}

describe('piecesFromStream', () => {
  const series = [
    makeSeries('a', 1000, 1_000_000, 1000, 1),
    makeSeries('b', 7, 1_500_000, 1000, 2),
    makeSeries('c', 300, 0, 10_000, 3), // ends before most windows
  ];

  it.each([
    [1, 1_000_000, 2_000_000],
    [2, 1_234_567, 1_654_321],
    [3, 1_119_002, 1_120_002],
    [1000, 0, 3_000_000],
  ])(
    'trims to the window and keeps series split over frames together (%i chunks per frame, [%i, %i))',
    async (perFrame, startMs, endMs) => {
      const body = framesOf(series, perFrame);
      const stats = newReadStats();
      const pieces = await collect(piecesFromStream(chunked(body, 777), { startMs, endMs }, undefined, {}, stats));
      expect(merge(pieces)).toEqual(expected(series, startMs, endMs));
      // Consecutive pieces of one series share one labels object.
      for (let i = 1; i < pieces.length; i++) {
        if (JSON.stringify(pieces[i]!.labels) === JSON.stringify(pieces[i - 1]!.labels)) {
          expect(pieces[i]!.labels).toBe(pieces[i - 1]!.labels);
        }
      }
      expect(stats.samples).toBe(pieces.reduce((n, p) => n + p.timestamps.length, 0));
      expect(stats.duplicates).toBe(0);
    },
  );

  it('drops samples repeated by overlapping chunks, within and across frames', async () => {
    const s = makeSeries('dup', 400, 0, 1000, 9);
    const chunks = encodeXorChunks(s.timestamps, s.values).map((c) => ({ ...c, type: 1 }));
    // The second chunk again, in the same frame and in the next frame.
    const frame1 = encodeChunkedReadResponse({
      queryIndex: 0,
      series: [{ labels: s.labels, chunks: [chunks[0]!, chunks[1]!, chunks[1]!] }],
    });
    const frame2 = encodeChunkedReadResponse({
      queryIndex: 0,
      series: [{ labels: s.labels, chunks: [chunks[1]!, chunks[2]!, chunks[3]!] }],
    });
    const body = concatBytes([encodeFrame(frame1), encodeFrame(frame2)]);
    const stats = newReadStats();
    const pieces = await collect(
      piecesFromStream(chunked(body, 100), { startMs: 0, endMs: 1e9 }, undefined, {}, stats),
    );
    expect(merge(pieces)).toEqual(expected([s], 0, 1e9));
    expect(stats.duplicates).toBe(240);
  });

  it('sorts labels and merges out-of-order chunks', async () => {
    const s = makeSeries('x', 300, 0, 1000, 4);
    const chunks = encodeXorChunks(s.timestamps, s.values).map((c) => ({ ...c, type: 1 }));
    const labels = [...s.labels].reverse();
    const frame = encodeChunkedReadResponse({
      queryIndex: 0,
      series: [{ labels, chunks: [chunks[2]!, chunks[0]!, chunks[1]!] }],
    });
    const [piece, ...rest] = await collect(
      piecesFromStream(chunked(encodeFrame(frame), 64), { startMs: 0, endMs: 1e9 }),
    );
    expect(rest).toEqual([]);
    expect(piece!.labels).toEqual(s.labels);
    expect(Array.from(piece!.timestamps)).toEqual(Array.from(s.timestamps));
    expect(bitsOf(piece!.values)).toEqual(bitsOf(s.values));
  });

  it('fails on native histogram chunks unless told to skip them', async () => {
    const hist = () => [{ minTimeMs: 5, maxTimeMs: 6, type: 2, data: new Uint8Array([0, 0]) }];
    const body = framesOf([series[1]!], Infinity, hist);
    await expect(collect(piecesFromStream(chunked(body, 50), { startMs: 0, endMs: 1e9 }))).rejects.toThrow(
      /series \{__name__="b", job="j"\} has a chunk of encoding 2 \(native histogram\)/,
    );
    const skipped: number[] = [];
    const pieces = await collect(
      piecesFromStream(chunked(body, 50), { startMs: 0, endMs: 1e9 }, undefined, {
        onUnsupportedChunk: (_labels, enc) => skipped.push(enc),
      }),
    );
    expect(skipped).toEqual([2]);
    expect(merge(pieces)).toEqual(expected([series[1]!], 0, 1e9));
  });

  it('names the series of a damaged chunk and rejects answers to other queries', async () => {
    const s = series[1]!;
    const [chunk] = encodeXorChunks(s.timestamps, s.values);
    const damaged = { ...chunk!, type: 1, data: chunk!.data.subarray(0, 12) };
    const frame = encodeChunkedReadResponse({ queryIndex: 0, series: [{ labels: s.labels, chunks: [damaged] }] });
    const err = await collect(piecesFromStream(chunked(encodeFrame(frame), 50), { startMs: 0, endMs: 1e9 })).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DecodeError);
    expect((err as Error).message).toMatch(
      /^series \{__name__="b", job="j"\}: XOR chunk of 12 bytes ends inside sample/,
    );
    const other = encodeChunkedReadResponse({ queryIndex: 1, series: [] });
    await expect(collect(piecesFromStream(chunked(encodeFrame(other), 50), { startMs: 0, endMs: 1 }))).rejects.toThrow(
      /answers query 1/,
    );
  });

  it('decodes a 1.5-million-sample stream whole', async () => {
    // 2,500 series x 600 samples (5 chunks each): 15 s scrape interval with jitter, gauge-like values.
    // 50 distinct sample sets, reused across the series to keep the setup short.
    const rnd = prng(11);
    const sets = Array.from({ length: 50 }, () => {
      const ts = new Float64Array(600);
      const vs = new Float64Array(600);
      let v = rnd() * 100;
      for (let i = 0; i < 600; i++) {
        ts[i] = 1_700_000_000_000 + i * 15_000 + Math.floor(rnd() * 20);
        v += rnd() < 0.5 ? 0 : rnd() - 0.5;
        vs[i] = v;
      }
      return encodeXorChunks(ts, vs).map((c) => ({ ...c, type: 1 }));
    });
    const frames: Uint8Array[] = [];
    for (let s = 0; s < 2500; s++) {
      const chunks = sets[s % sets.length]!;
      const labels = [
        { name: '__name__', value: 'node_cpu_seconds_total' },
        { name: 'cpu', value: String(s % 64) },
        { name: 'instance', value: `host-${Math.floor(s / 64)}:9100` },
        { name: 'job', value: 'node' },
      ];
      frames.push(encodeFrame(encodeChunkedReadResponse({ queryIndex: 0, series: [{ labels, chunks }] })));
    }
    const body = concatBytes(frames);
    const window = { startMs: 1_700_000_000_000, endMs: 1_700_000_000_000 + 600 * 15_000 };
    // Speed is measured by `npm run bench`; here only that a large stream decodes whole.
    let samples = 0;
    for await (const p of piecesFromStream(chunked(body, 64 * 1024), window)) samples += p.timestamps.length;
    expect(samples).toBe(1_500_000);
  });
});

describe('trimPiece and normalizeSamples', () => {
  it('cuts a piece to the window without copying', () => {
    const p = {
      labels: [{ name: 'a', value: 'b' }],
      timestamps: Float64Array.from([1, 2, 3, 4, 5]),
      values: f64(hostileBits(5, 1)),
    };
    const t = trimPiece(p, { startMs: 2, endMs: 5 })!;
    expect(Array.from(t.timestamps)).toEqual([2, 3, 4]);
    expect(bitsOf(t.values)).toEqual(bitsOf(p.values).slice(1, 4));
    expect(t.values.buffer).toBe(p.values.buffer);
    expect(trimPiece(p, { startMs: 6, endMs: 9 })).toBeUndefined();
    expect(trimPiece(p, { startMs: 0, endMs: 9 })).toEqual(p);
  });

  it('sorts stably and keeps the first of repeated timestamps', () => {
    const buf = new SampleBuffer(2);
    const bits = hostileBits(6, 5);
    buf.append(Float64Array.from([1, 5, 3, 5, 2, 1]), f64(bits));
    expect(normalizeSamples(buf)).toBe(2);
    expect(Array.from(buf.timestamps.subarray(0, buf.length))).toEqual([1, 2, 3, 5]);
    expect(bitsOf(buf.values.subarray(0, buf.length))).toEqual([bits[0], bits[4], bits[2], bits[1]]);
  });
});
