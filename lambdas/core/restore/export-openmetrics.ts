/**
 * export: OpenMetrics text that `promtool tsdb create-blocks-from openmetrics` accepts
 * (timestamps in seconds, `# EOF` last). promtool drops a sample older than the previous one of
 * its series, so shards are exported oldest first and samples stay in time order.
 *
 * Text cannot carry a staleness marker (it would come back as an ordinary NaN sample that PromQL
 * shows as a value), so markers are left out and counted; other NaN payloads become plain NaN.
 */
import type { SeriesPiece } from '../types';
import { STALE_NAN_BITS } from '../types';
import { labelsEqual } from '../labels';

export interface ExportCounts {
  samples: number;
  series: number;
  stale_markers_dropped: number;
}

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function seriesPrefix(piece: SeriesPiece): string {
  let name = '';
  const rest: string[] = [];
  for (const l of piece.labels) {
    if (l.name === '__name__') name = l.value;
    else rest.push(`${l.name}="${escapeLabelValue(l.value)}"`);
  }
  return rest.length > 0 ? `${name}{${rest.join(',')}} ` : `${name} `;
}

/** Shortest text that parses back to the same float (Go's ParseFloat included), keeping -0. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (v === 0 && Object.is(v, -0)) return '-0';
  return String(v);
}

export function formatTimestampSeconds(ms: number): string {
  const s = Math.floor(ms / 1000);
  const frac = ms - s * 1000;
  return frac === 0 ? String(s) : `${s}.${String(frac).padStart(3, '0')}`;
}

/** Yields text in pieces of at most roughly `chunkChars` characters. */
export async function* toOpenMetrics(
  pieces: AsyncIterable<SeriesPiece>,
  counts: ExportCounts,
  chunkChars = 1 << 16,
): AsyncGenerator<string> {
  const bits = new BigUint64Array(1);
  const asFloat = new Float64Array(bits.buffer);
  let out = '';
  let lastLabels: SeriesPiece['labels'] | undefined;
  for await (const piece of pieces) {
    const prefix = seriesPrefix(piece);
    if (!lastLabels || !labelsEqual(lastLabels, piece.labels)) counts.series++;
    lastLabels = piece.labels;
    const { timestamps, values } = piece;
    const raw = new BigUint64Array(values.buffer, values.byteOffset, values.length);
    for (let i = 0; i < timestamps.length; i++) {
      if (raw[i] === STALE_NAN_BITS) {
        counts.stale_markers_dropped++;
        continue;
      }
      bits[0] = raw[i]!;
      out += `${prefix}${formatValue(asFloat[0]!)} ${formatTimestampSeconds(timestamps[i]!)}\n`;
      counts.samples++;
      if (out.length >= chunkChars) {
        yield out;
        out = '';
      }
    }
  }
  yield out + '# EOF\n';
}
