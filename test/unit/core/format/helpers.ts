/** Helpers for the shard format tests: bit-exact comparison and hostile values. */
import { decodeShard, encodeShard, type EncodeOptions, type ShardStats } from '../../../../lambdas/core/format';
import type { Label, Labels, SeriesPiece } from '../../../../lambdas/core/types';
import { mulberry32 as rng } from '../../../fixtures/prng';

/** A double with exactly these 64 bits (never passes through a JS number on the way). */
export function fromBits(bits: bigint): Float64Array {
  return new Float64Array(BigUint64Array.of(bits).buffer);
}

/** Float64Array with these raw bit patterns. */
export function bitsArray(bits: readonly bigint[]): Float64Array {
  return new Float64Array(BigUint64Array.from(bits).buffer);
}

export function bitsOf(a: Float64Array): BigUint64Array {
  return new BigUint64Array(a.buffer, a.byteOffset, a.length);
}

/** Index of the first differing 64-bit pattern, or -1 when equal (length mismatch counts). */
export function firstBitDifference(a: Float64Array, b: Float64Array): number {
  const x = bitsOf(a);
  const y = bitsOf(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return i;
  return x.length === y.length ? -1 : n;
}

export function labels(obj: Record<string, string>): Label[] {
  return Object.entries(obj)
    .map(([name, value]) => ({ name, value }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function piece(l: Labels, ts: readonly number[], values: Float64Array): SeriesPiece {
  return { labels: l, timestamps: Float64Array.from(ts), values };
}

/** Consecutive timestamps start, start+step, ... */
export function range(n: number, start = 1_700_000_000_000, step = 15_000): number[] {
  return Array.from({ length: n }, (_, i) => start + i * step);
}

export interface MergedSeries {
  labels: Labels;
  timestamps: Float64Array;
  values: Float64Array;
}

function sameLabels(a: Labels, b: Labels): boolean {
  return a.length === b.length && a.every((l, i) => l.name === b[i]?.name && l.value === b[i]?.value);
}

function concat(parts: Float64Array[]): Float64Array {
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  // Byte copies: never reads values as numbers.
  const dst = new Uint8Array(out.buffer);
  let o = 0;
  for (const p of parts) {
    dst.set(new Uint8Array(p.buffer, p.byteOffset, p.byteLength), o);
    o += p.byteLength;
  }
  return out;
}

/** Merges consecutive pieces with equal labels into series, as the encoder defines them. */
export function mergeSeries(pieces: Iterable<SeriesPiece>): MergedSeries[] {
  const out: MergedSeries[] = [];
  let cur: { labels: Labels; ts: Float64Array[]; vs: Float64Array[] } | undefined;
  const flush = () => {
    if (cur) out.push({ labels: cur.labels, timestamps: concat(cur.ts), values: concat(cur.vs) });
  };
  for (const p of pieces) {
    if (p.timestamps.length === 0) continue;
    if (!cur || !sameLabels(cur.labels, p.labels)) {
      flush();
      cur = { labels: p.labels, ts: [], vs: [] };
    }
    cur.ts.push(p.timestamps);
    cur.vs.push(p.values);
  }
  flush();
  return out;
}

export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

export async function encodeToBytes(
  pieces: Iterable<SeriesPiece> | AsyncIterable<SeriesPiece>,
  opts: EncodeOptions = {},
): Promise<{ bytes: Uint8Array; stats: ShardStats }> {
  const enc = encodeShard(pieces, opts);
  const chunks = await collect(enc.body);
  const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    bytes.set(c, o);
    o += c.length;
  }
  return { bytes, stats: enc.stats() };
}

/** Feeds bytes to the decoder in chunks of `chunk` bytes. */
export async function decodeBytes(bytes: Uint8Array, chunk = 4096): Promise<SeriesPiece[]> {
  async function* body(): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < bytes.length; i += chunk) yield bytes.slice(i, i + chunk);
  }
  return collect(decodeShard(body()));
}

/**
 * Encodes, decodes and asserts the decoded series equal the input series (merged the same way)
 * bit for bit; returns the stats and the decoded pieces.
 */
export async function roundTrip(
  input: SeriesPiece[],
  opts: EncodeOptions = {},
  chunk = 4096,
): Promise<{ stats: ShardStats; decoded: SeriesPiece[]; bytes: Uint8Array }> {
  const { bytes, stats } = await encodeToBytes(input, opts);
  const decoded = await decodeBytes(bytes, chunk);
  assertSameSeries(mergeSeries(decoded), mergeSeries(input));
  return { stats, decoded, bytes };
}

export function assertSameSeries(got: MergedSeries[], want: MergedSeries[]): void {
  if (got.length !== want.length) throw new Error(`got ${got.length} series, want ${want.length}`);
  for (let s = 0; s < want.length; s++) {
    const g = got[s] as MergedSeries;
    const w = want[s] as MergedSeries;
    if (!sameLabels(g.labels, w.labels)) {
      throw new Error(`series ${s}: labels ${JSON.stringify(g.labels)}, want ${JSON.stringify(w.labels)}`);
    }
    const dt = firstBitDifference(g.timestamps, w.timestamps);
    if (dt >= 0) throw new Error(`series ${s}: timestamp ${dt} is ${g.timestamps[dt]}, want ${w.timestamps[dt]}`);
    const dv = firstBitDifference(g.values, w.values);
    if (dv >= 0) {
      const hex = (a: Float64Array) => bitsOf(a)[dv]?.toString(16);
      throw new Error(`series ${s}: value ${dv} has bits ${hex(g.values)}, want ${hex(w.values)}`);
    }
  }
}

export { rng };

/** Raw 64-bit patterns that stress a float codec. */
export const HOSTILE_BITS: readonly bigint[] = [
  0x7ff0000000000002n, // Prometheus staleness marker
  0x7ff8000000000001n, // Go's math.NaN()
  0x7ff8000000000000n, // JS's canonical NaN
  0xfff8000000000000n, // negative quiet NaN
  0x7ff0000000000001n, // signalling NaN
  0x7fffffffffffffffn, // NaN with every payload bit
  0xffffffffffffffffn,
  0x7ff4000000000000n,
  0x7ff0000000000000n, // +Inf
  0xfff0000000000000n, // -Inf
  0x0000000000000000n, // +0
  0x8000000000000000n, // -0
  0x0000000000000001n, // smallest denormal
  0x8000000000000001n, // negative denormal
  0x000fffffffffffffn, // largest denormal
  0x0010000000000000n, // smallest normal
  0x7fefffffffffffffn, // MAX_VALUE
  0xffefffffffffffffn, // -MAX_VALUE
  0x3ff0000000000000n, // 1
  0xbff0000000000000n, // -1
  0x3fd3333333333334n, // 0.30000000000000004 (0.1 + 0.2)
  0x3fb999999999999an, // 0.1
  0x4340000000000000n, // 2^53
  0x4340000000000001n, // 2^53 + 2
  0x4330000000000000n, // 2^52
  0x4310000000000000n, // 2^50 (the integer codec's limit)
  0x430fffffffffffffn, // 2^50 - 0.125
  0xc310000000000000n, // -2^50
];
