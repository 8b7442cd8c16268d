/**
 * export: OpenMetrics text that `promtool tsdb create-blocks-from openmetrics` accepts
 * (timestamps in seconds, `# EOF` last). promtool drops a sample older than the previous one of
 * its series, so shards are exported oldest first and samples stay in time order.
 *
 * Text cannot carry a staleness marker (it would come back as an ordinary NaN sample that PromQL
 * shows as a value), so markers are left out and counted; other NaN payloads become plain NaN.
 *
 * Metric metadata stored with the shards becomes `# TYPE`, `# UNIT` and `# HELP` lines right
 * before the first sample of each family, once per export. OpenMetrics ties sample names to the
 * family's type (a counter's samples end in `_total` or `_created`, …) and a unit to the end of
 * the family name; where the stored metadata does not fit a series (e.g. a counter exposed
 * without `_total` in the Prometheus text format), that series gets no metadata lines, so the
 * parser takes it as `unknown` rather than rejecting the file; a unit that is not the family
 * name's suffix and an empty help are left out.
 */
import type { MetricMetadata, MetricType, SeriesPiece } from '../types';
import { STALE_NAN_BITS } from '../types';
import { labelsEqual } from '../labels';
import type { MetadataIndex } from '../metadata';

export interface ExportCounts {
  samples: number;
  series: number;
  stale_markers_dropped: number;
  /** Metric families written with a `# TYPE` line. */
  metadata_families?: number;
}

export interface ExportOptions {
  /** Text is yielded in pieces of roughly this many characters. */
  readonly chunkChars?: number;
  /** The metadata of the shards being exported, filled as they are decoded (DecodeOptions.onMetadata). */
  readonly metadata?: MetadataIndex;
}

/** The sample-name suffixes OpenMetrics allows each type; '' is the family name itself. */
const SAMPLE_SUFFIXES: Readonly<Record<MetricType, readonly string[]>> = {
  unknown: [''],
  gauge: [''],
  stateset: [''],
  counter: ['_total', '_created'],
  histogram: ['_bucket', '_count', '_sum', '_created'],
  gaugehistogram: ['_bucket', '_gcount', '_gsum'],
  summary: ['', '_count', '_sum', '_created'],
  info: ['_info'],
};

/**
 * The OpenMetrics family a series named `name` is a sample of, given its stored metadata, or
 * undefined when the name does not fit the type. A family stored under its sample name (text
 * format: `# TYPE foo_total counter`) is named without the suffix, as OpenMetrics names it.
 */
export function openMetricsFamily(name: string, meta: MetricMetadata): string | undefined {
  const base = meta.metricFamilyName;
  for (const suffix of SAMPLE_SUFFIXES[meta.type]) {
    if (!name.endsWith(suffix)) continue;
    const family = name.slice(0, name.length - suffix.length);
    if (family === base || (suffix !== '' && name === base)) return family;
  }
  return undefined;
}

/** `# TYPE`, `# UNIT` (when the family name ends in it) and `# HELP` (when not empty) lines. */
export function metadataLines(family: string, meta: MetricMetadata): string {
  let out = `# TYPE ${family} ${meta.type}\n`;
  if (meta.unit !== '' && family.endsWith(`_${meta.unit}`)) out += `# UNIT ${family} ${meta.unit}\n`;
  if (meta.help !== '') out += `# HELP ${family} ${escapeText(meta.help)}\n`;
  return out;
}

/** OpenMetrics' escaping of label values and help text: backslash, double quote, line feed. */
function escapeText(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function seriesName(piece: SeriesPiece): string {
  return piece.labels.find((l) => l.name === '__name__')?.value ?? '';
}

function seriesPrefix(piece: SeriesPiece): string {
  let name = '';
  const rest: string[] = [];
  for (const l of piece.labels) {
    if (l.name === '__name__') name = l.value;
    else rest.push(`${l.name}="${escapeText(l.value)}"`);
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

/** Yields the text in pieces of at most roughly `chunkChars` characters. */
export async function* toOpenMetrics(
  pieces: AsyncIterable<SeriesPiece>,
  counts: ExportCounts,
  options: ExportOptions = {},
): AsyncGenerator<string> {
  const chunkChars = options.chunkChars ?? 1 << 16;
  const bits = new BigUint64Array(1);
  const asFloat = new Float64Array(bits.buffer);
  const described = new Set<string>();
  let out = '';
  let lastLabels: SeriesPiece['labels'] | undefined;
  for await (const piece of pieces) {
    const prefix = seriesPrefix(piece);
    if (!lastLabels || !labelsEqual(lastLabels, piece.labels)) {
      counts.series++;
      if (options.metadata && options.metadata.size > 0)
        out += familyHeader(piece, options.metadata, described, counts);
    }
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

/** The metadata lines of a series' family when this is its first series in the export, else ''. */
function familyHeader(piece: SeriesPiece, index: MetadataIndex, described: Set<string>, counts: ExportCounts): string {
  const name = seriesName(piece);
  const meta = index.familyOf(name);
  const family = meta && openMetricsFamily(name, meta);
  if (!meta || family === undefined || described.has(family)) return '';
  described.add(family);
  counts.metadata_families = (counts.metadata_families ?? 0) + 1;
  return metadataLines(family, meta);
}
