/**
 * The data model every step shares.
 *
 * Sample values live only in Float64Array (or raw bytes): V8 quiets NaNs stored in plain
 * double arrays (0x7ff0000000000002 becomes 0x7ff8000000000002), which would destroy
 * Prometheus staleness markers. Never copy values through a number[].
 */

export interface Label {
  readonly name: string;
  readonly value: string;
}

/** Labels sorted by name, as Prometheus keeps them; `__name__` is an ordinary label. */
export type Labels = readonly Label[];

/**
 * A run of samples of one series, timestamps strictly ascending, in ms since the epoch.
 * A reader may yield one series as several consecutive pieces with identical labels.
 */
export interface SeriesPiece {
  readonly labels: Labels;
  readonly timestamps: Float64Array;
  readonly values: Float64Array;
}

/**
 * How a source with HA replicas is read: `merge` unions every replica per series, `failover`
 * uses the first replica that can serve the whole window.
 */
export const REPLICA_MODES = ['merge', 'failover'] as const;
export type ReplicaMode = (typeof REPLICA_MODES)[number];

/** Merge with two or more replicas; with one there is nothing to merge. */
export function defaultReplicaMode(replicas: number): ReplicaMode {
  return replicas > 1 ? 'merge' : 'failover';
}

/**
 * How a source is read: `remote-read` (Prometheus' /api/v1/read, every raw sample including
 * staleness markers) or `query` (the HTTP query API, for servers without remote read).
 */
export const SOURCE_MODES = ['remote-read', 'query'] as const;
export type SourceMode = (typeof SOURCE_MODES)[number];

/** Query mode: most samples one query answer is planned to hold, unless configured. */
export const DEFAULT_MAX_SAMPLES_PER_QUERY = 500_000;

/** A half-open time window [startMs, endMs). */
export interface TimeWindow {
  readonly startMs: number;
  readonly endMs: number;
}

export type MatcherType = '=' | '!=' | '=~' | '!~';

export interface LabelMatcher {
  readonly type: MatcherType;
  readonly name: string;
  readonly value: string;
}

/** Prometheus marks a series stale with this exact NaN. */
export const STALE_NAN_BITS = 0x7ff0000000000002n;

/**
 * The metric types of remote write's MetricMetadata.MetricType, lowercased (OpenMetrics spells
 * them the same way). The wire enum value of each is its index here: see prom/prompb.ts.
 */
export const METRIC_TYPES = [
  'unknown',
  'counter',
  'gauge',
  'histogram',
  'gaugehistogram',
  'summary',
  'info',
  'stateset',
] as const;
export type MetricType = (typeof METRIC_TYPES)[number];

/** `# TYPE`, `# HELP` and `# UNIT` of one metric family, as a source reports them. */
export interface MetricMetadata {
  readonly metricFamilyName: string;
  readonly type: MetricType;
  readonly help: string;
  readonly unit: string;
}
