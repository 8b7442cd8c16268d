/**
 * From remote-read responses to SeriesPieces: decodes the XOR chunks of each streamed series,
 * merges them and trims them to the window (chunks reach past the window on both sides).
 */
import type { Labels, SeriesPiece, TimeWindow } from '../types';
import { DecodeError } from './decode-error';
import { readFrames } from './frames';
import type { ChunkedSeries } from './prompb';
import { decodeChunkedReadResponse, sortedLabels } from './prompb';
import { SampleBuffer, wordsOf } from './sample-buffer';
import { CHUNK_ENCODING_OOO_XOR, CHUNK_ENCODING_XOR, decodeXorChunk } from './xor-chunk';

export interface PieceOptions {
  /**
   * Called for each chunk that is not a float (XOR) chunk, i.e. native histograms, which
   * promvault does not keep. Without it such a chunk fails the read with DecodeError.
   */
  readonly onUnsupportedChunk?: (labels: Labels, encoding: number) => void;
}

/** Counters a reader can report. */
export interface ReadStats {
  frames: number;
  frameBytes: number;
  chunks: number;
  /** Samples yielded (inside the window). */
  samples: number;
  /** Samples dropped because they repeated a timestamp already yielded for the series. */
  duplicates: number;
}

export function newReadStats(): ReadStats {
  return { frames: 0, frameBytes: 0, chunks: 0, samples: 0, duplicates: 0 };
}

function describe(labels: Labels): string {
  return `{${labels.map((l) => `${l.name}=${JSON.stringify(l.value)}`).join(', ')}}`;
}

/**
 * Makes samples [from, buf.length) strictly ascending: sorts them by timestamp (stably) and
 * keeps the first of each run of equal timestamps. Returns how many were dropped. A no-op pass
 * when they already ascend, which is what Prometheus sends.
 */
export function normalizeSamples(buf: SampleBuffer, from = 0): number {
  const ts = buf.timestamps;
  const to = buf.length;
  let sorted = true;
  for (let i = from + 1; i < to; i++) {
    if (!(ts[i - 1]! < ts[i]!)) {
      sorted = false;
      break;
    }
  }
  if (sorted) return 0;
  const n = to - from;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = from + i;
  order.sort((a, b) => ts[a]! - ts[b]! || a - b);
  const times = buf.timestamps.slice(from, to);
  const words = buf.valueWords.slice(2 * from, 2 * to);
  let out = from;
  let last = NaN;
  for (let k = 0; k < n; k++) {
    const src = order[k]! - from;
    const t = times[src]!;
    if (k > 0 && t === last) continue;
    last = t;
    buf.timestamps[out] = t;
    buf.valueWords[2 * out] = words[2 * src]!;
    buf.valueWords[2 * out + 1] = words[2 * src + 1]!;
    out++;
  }
  buf.length = out;
  return to - out;
}

/**
 * Decodes the chunks of one streamed series into `scratch` (cleared first), keeping the samples
 * with window.startMs <= t < window.endMs, strictly ascending. Returns duplicates dropped.
 */
export function decodeChunkedSeries(
  series: ChunkedSeries,
  labels: Labels,
  window: TimeWindow,
  scratch: SampleBuffer,
  options: PieceOptions = {},
): number {
  scratch.clear();
  for (const chunk of series.chunks) {
    if (chunk.type === CHUNK_ENCODING_XOR || chunk.type === CHUNK_ENCODING_OOO_XOR) {
      try {
        decodeXorChunk(chunk.data, scratch, window.startMs, window.endMs);
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err;
        throw new DecodeError(`series ${describe(labels)}: ${err.message}`, { cause: err });
      }
    } else if (options.onUnsupportedChunk) {
      options.onUnsupportedChunk(labels, chunk.type);
    } else {
      throw new DecodeError(
        `series ${describe(labels)} has a chunk of encoding ${chunk.type} (${chunk.type === 2 || chunk.type === 3 ? 'native histogram' : 'unknown'}); promvault backs up float samples only`,
      );
    }
  }
  return normalizeSamples(scratch);
}

/** A piece with exact-size copies of scratch's samples. */
function pieceOf(labels: Labels, scratch: SampleBuffer, from = 0): SeriesPiece {
  const { timestamps, values } = scratch.copyOut(from, scratch.length);
  return { labels, timestamps, values };
}

function sameLabels(a: Labels, b: Labels): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i]!.name !== b[i]!.name || a[i]!.value !== b[i]!.value) return false;
  return true;
}

/** First index of timestamps > t in the ascending samples [from, to). */
function upperBound(ts: Float64Array, from: number, to: number, t: number): number {
  let lo = from;
  let hi = to;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ts[mid]! <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index of timestamps >= t in the ascending samples [from, to). */
function lowerBound(ts: Float64Array, from: number, to: number, t: number): number {
  let lo = from;
  let hi = to;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ts[mid]! < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Turns the frames of a streamed remote-read body into SeriesPieces trimmed to the window.
 * A series split over several frames comes out as consecutive pieces with identical labels
 * (the same `labels` object), ascending across pieces: samples repeating a timestamp already
 * yielded for the series are dropped and counted in stats.duplicates.
 */
export async function* piecesFromFrames(
  frames: AsyncIterable<Uint8Array>,
  window: TimeWindow,
  options: PieceOptions = {},
  stats: ReadStats = newReadStats(),
): AsyncGenerator<SeriesPiece, void, undefined> {
  const scratch = new SampleBuffer(4096);
  let prevLabels: Labels | undefined;
  let prevLast = -Infinity;
  for await (const frame of frames) {
    stats.frames++;
    stats.frameBytes += frame.length;
    const resp = decodeChunkedReadResponse(frame);
    if (resp.queryIndex !== 0)
      throw new DecodeError(`frame answers query ${resp.queryIndex}, but only query 0 was sent`);
    for (const series of resp.series) {
      stats.chunks += series.chunks.length;
      let labels: Labels = sortedLabels(series.labels);
      const continues = prevLabels !== undefined && sameLabels(prevLabels, labels);
      if (continues) labels = prevLabels!;
      stats.duplicates += decodeChunkedSeries(series, labels, window, scratch, options);
      let from = 0;
      if (continues) {
        from = upperBound(scratch.timestamps, 0, scratch.length, prevLast);
        stats.duplicates += from;
      } else {
        prevLast = -Infinity;
      }
      prevLabels = labels;
      if (from === scratch.length) continue;
      prevLast = scratch.timestamps[scratch.length - 1]!;
      stats.samples += scratch.length - from;
      yield pieceOf(labels, scratch, from);
    }
  }
}

/** piecesFromFrames over a raw framed body. */
export function piecesFromStream(
  body: AsyncIterable<Uint8Array>,
  window: TimeWindow,
  maxFrameBytes?: number,
  options: PieceOptions = {},
  stats?: ReadStats,
): AsyncGenerator<SeriesPiece, void, undefined> {
  return piecesFromFrames(readFrames(body, maxFrameBytes), window, options, stats);
}

/**
 * A SAMPLES-response series cut to the window and made strictly ascending; undefined when no
 * sample falls inside. Returns views (no copy) when the samples already ascend.
 */
export function trimPiece(piece: SeriesPiece, window: TimeWindow): SeriesPiece | undefined {
  let { timestamps, values } = piece;
  const labels = sortedLabels(piece.labels);
  let ascending = true;
  for (let i = 1; i < timestamps.length; i++) {
    if (!(timestamps[i - 1]! < timestamps[i]!)) {
      ascending = false;
      break;
    }
  }
  if (!ascending) {
    const buf = new SampleBuffer(timestamps.length);
    buf.append(timestamps, values);
    normalizeSamples(buf);
    ({ timestamps, values } = buf.copyOut());
  }
  const from = lowerBound(timestamps, 0, timestamps.length, window.startMs);
  const to = lowerBound(timestamps, from, timestamps.length, window.endMs);
  if (from === to) return undefined;
  if (from === 0 && to === timestamps.length) return { labels, timestamps, values };
  const words = wordsOf(values).subarray(2 * from, 2 * to);
  return {
    labels,
    timestamps: timestamps.subarray(from, to),
    values: new Float64Array(words.buffer, words.byteOffset, to - from),
  };
}
