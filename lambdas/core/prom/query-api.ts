/**
 * The Prometheus HTTP query API as a source of raw samples (query mode), the pure half: the
 * PromQL that selects a window's raw samples, the series groups a window is fetched in, and the
 * JSON answers turned back into exact samples. The adapter (adapters/prometheus-query.ts) does
 * the requests.
 *
 * Raw samples come from an instant query of a range-vector selector, `{…}[<range>]` at `time`,
 * which answers every stored sample in the range with its timestamp. Prometheus 2.x selects the
 * closed range [time - range, time], 3.x and VictoriaMetrics the left-open (time - range, time].
 * For the window [start, end) the query is evaluated at end - 1 ms with range end - start:
 * 3.x gives (start - 1, end - 1] = [start, end), 2.x [start - 1, end - 1], whose extra first
 * millisecond is dropped here. Staleness markers never come back: range selectors skip them.
 */
import { compareLabels, compareStrings, formatLabels } from '../labels';
import { formatSelector } from './selector';
import type { Label, LabelMatcher, Labels, SeriesPiece, TimeWindow } from '../types';

/** The NaN Go's math.NaN() returns (and promtool writes): what the API's "NaN" stands for. */
export const GO_NAN_BITS = 0x7ff8000000000001n;

/** One instant query: the PromQL and its evaluation time as the API takes it (seconds). */
export interface RangeQuery {
  readonly query: string;
  readonly time: string;
}

/** Milliseconds as the API's decimal seconds, exact: 1700000000123 → "1700000000.123". */
export function formatApiTime(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  const abs = Math.abs(ms);
  return `${sign}${Math.floor(abs / 1000)}.${String(abs % 1000).padStart(3, '0')}`;
}

/** The API's timestamp (seconds, a JSON number with up to 3 decimals) as whole ms. */
export function parseApiTime(seconds: unknown): number {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) throw new QueryAnswerError(`bad timestamp ${seconds}`);
  return Math.round(seconds * 1000);
}

/**
 * A PromQL string literal. JSON's escapes (\" \\ \n \t \uXXXX) are a subset of the Go escapes
 * PromQL and MetricsQL accept; label values from the API are valid UTF-8 (Go's JSON encoder
 * replaces invalid bytes), so no lone surrogate can reach here.
 */
export function promqlString(value: string): string {
  return JSON.stringify(value);
}

/** RE2's QuoteMeta: `value` as a regular expression that matches only itself. */
export function quoteRegex(value: string): string {
  return value.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}

/** The query of the raw samples of `window` of every series `matchers` select (none: every series). */
export function rangeQuery(matchers: readonly LabelMatcher[], window: TimeWindow): RangeQuery {
  const selector = matchers.length > 0 ? formatSelector(matchers) : '{__name__=~".+"}';
  return {
    query: `${selector}[${window.endMs - window.startMs}ms]`,
    time: formatApiTime(window.endMs - 1),
  };
}

/** The selector of the series listing: the user's matchers, or every series. */
export function seriesSelector(matchers: readonly LabelMatcher[]): string {
  return matchers.length > 0 ? formatSelector(matchers) : '{__name__=~".+"}';
}

/** A sample value as the API writes it (Go's shortest 'f' or 'e' form, NaN, +Inf, -Inf), as IEEE-754 bits. */
export function parseApiValue(text: unknown): bigint {
  const scratch = new Float64Array(1);
  const bits = new BigUint64Array(scratch.buffer);
  if (text === 'NaN') return GO_NAN_BITS;
  let v: number;
  if (text === '+Inf' || text === 'Inf') v = Infinity;
  else if (text === '-Inf') v = -Infinity;
  else if (typeof text === 'string' && /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) v = Number(text);
  else throw new QueryAnswerError(`bad sample value ${JSON.stringify(text)}`);
  scratch[0] = v;
  return bits[0]!;
}

/** An answer that is not what the API promises. */
export class QueryAnswerError extends Error {
  override readonly name = 'QueryAnswerError';
}

/** Labels from the API's JSON object, in Prometheus' order. */
export function labelsOf(metric: unknown): Labels {
  if (metric === null || typeof metric !== 'object' || Array.isArray(metric))
    throw new QueryAnswerError('a series without a label object');
  const labels: Label[] = [];
  for (const [name, value] of Object.entries(metric as Record<string, unknown>)) {
    if (typeof value !== 'string') throw new QueryAnswerError(`label ${name} is not a string`);
    labels.push({ name, value });
  }
  return labels.sort((a, b) => compareStrings(a.name, b.name));
}

/** What one matrix answer holds, pieces trimmed to the window and sorted in label-set order. */
export interface MatrixPieces {
  readonly pieces: SeriesPiece[];
  readonly samples: number;
}

/**
 * The `data` of an instant query of a range selector: `{resultType: "matrix", result:
 * [{metric, values: [[seconds, "value"], …]}]}`. Samples outside [start, end) are dropped (a
 * closed range selector reaches 1 ms before the window); `keep` filters series.
 */
export function matrixPieces(data: unknown, window: TimeWindow, keep?: (labels: Labels) => boolean): MatrixPieces {
  const d = data as { resultType?: unknown; result?: unknown } | null;
  if (d === null || typeof d !== 'object' || d.resultType !== 'matrix' || !Array.isArray(d.result))
    throw new QueryAnswerError(
      `expected a matrix, got ${d === null || typeof d !== 'object' ? String(d) : String(d.resultType)}`,
    );
  const pieces: SeriesPiece[] = [];
  let samples = 0;
  for (const series of d.result as { metric?: unknown; values?: unknown; histograms?: unknown }[]) {
    const labels = labelsOf(series.metric);
    if (series.histograms !== undefined)
      throw new QueryAnswerError(
        `${formatLabels(labels)} holds native histogram samples; promvault backs up float samples only`,
      );
    if (keep && !keep(labels)) continue;
    if (!Array.isArray(series.values)) throw new QueryAnswerError(`${formatLabels(labels)} has no values`);
    const points = series.values as unknown[];
    const timestamps = new Float64Array(points.length);
    const values = new Float64Array(points.length);
    const bits = new BigUint64Array(values.buffer);
    let n = 0;
    let last = -Infinity;
    for (const point of points) {
      if (!Array.isArray(point) || point.length !== 2)
        throw new QueryAnswerError(`${formatLabels(labels)}: bad sample`);
      const t = parseApiTime(point[0]);
      if (t <= last) throw new QueryAnswerError(`${formatLabels(labels)}: timestamps out of order at ${t}`);
      last = t;
      if (t < window.startMs || t >= window.endMs) continue;
      timestamps[n] = t;
      bits[n] = parseApiValue(point[1]);
      n++;
    }
    if (n === 0) continue;
    samples += n;
    pieces.push({ labels, timestamps: timestamps.subarray(0, n), values: values.subarray(0, n) });
  }
  pieces.sort((a, b) => compareLabels(a.labels, b.labels));
  for (let i = 1; i < pieces.length; i++)
    if (compareLabels(pieces[i - 1]!.labels, pieces[i]!.labels) === 0)
      throw new QueryAnswerError(`${formatLabels(pieces[i]!.labels)} is answered twice`);
  return { pieces, samples };
}

/** The `data` of /api/v1/series: label sets, sorted and without duplicates. */
export function seriesList(data: unknown): Labels[] {
  if (!Array.isArray(data)) throw new QueryAnswerError('the series list is not a list');
  const list = data.map(labelsOf).sort(compareLabels);
  return list.filter((l, i) => i === 0 || compareLabels(list[i - 1]!, l) !== 0);
}

/**
 * The matchers that select at least the series of `group` (consecutive in label-set order) and
 * few others: the user's matchers, the group's metric names, and, when the group holds only some
 * series of its names, the values of the label that tells them apart best. The answer may hold
 * other series too; the reader keeps only the group's.
 */
export function groupMatchers(
  base: readonly LabelMatcher[],
  group: readonly Labels[],
  seriesPerName: ReadonlyMap<string, number>,
): LabelMatcher[] {
  const matchers = [...base];
  const names = new Map<string, number>();
  for (const labels of group) {
    const name = labels.find((l) => l.name === '__name__')?.value ?? '';
    names.set(name, (names.get(name) ?? 0) + 1);
  }
  matchers.push(alternatives('__name__', [...names.keys()]));
  const whole = [...names].every(([name, n]) => seriesPerName.get(name) === n);
  if (whole) return matchers;
  const values = new Map<string, Set<string>>();
  for (const labels of group)
    for (const l of labels) if (l.name !== '__name__' && !values.has(l.name)) values.set(l.name, new Set());
  for (const labels of group)
    for (const [name, set] of values) set.add(labels.find((l) => l.name === name)?.value ?? '');
  let best: [string, Set<string>] | undefined;
  for (const entry of values) if (!best || entry[1].size > best[1].size) best = entry;
  if (best) matchers.push(alternatives(best[0], [...best[1]]));
  return matchers;
}

function alternatives(name: string, values: readonly string[]): LabelMatcher {
  if (values.length === 1) return { type: '=', name, value: values[0]! };
  return { type: '=~', name, value: [...values].sort(compareStrings).map(quoteRegex).join('|') };
}

/** How many series of each metric name a listing holds. */
export function countByName(series: readonly Labels[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const labels of series) {
    const name = labels.find((l) => l.name === '__name__')?.value ?? '';
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return counts;
}

/** Series key for membership tests: the text form is unique per label set. */
export const seriesKey = formatLabels;
