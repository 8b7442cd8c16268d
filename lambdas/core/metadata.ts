/**
 * Metric metadata (`# TYPE`, `# HELP`, `# UNIT`) of the metric families a shard holds. Sources
 * report it per family name; series carry sample names (`foo_total`, `foo_bucket`, …), so a
 * series finds its family by its exact name first, then by the name without the suffix its
 * family's type gives its samples. Pure.
 */
import { METRIC_TYPES, type MetricMetadata, type MetricType } from './types';
import { compareStrings } from './labels';

/** Sample-name suffixes a family of each type adds (OpenMetrics); a counter family also matches by its own `_total` name. */
const SUFFIXES: readonly { readonly suffix: string; readonly types: readonly MetricType[] }[] = [
  { suffix: '_total', types: ['counter'] },
  { suffix: '_created', types: ['counter', 'histogram', 'summary', 'gaugehistogram'] },
  { suffix: '_bucket', types: ['histogram', 'gaugehistogram'] },
  { suffix: '_count', types: ['histogram', 'summary'] },
  { suffix: '_sum', types: ['histogram', 'summary'] },
  { suffix: '_gcount', types: ['gaugehistogram'] },
  { suffix: '_gsum', types: ['gaugehistogram'] },
  { suffix: '_info', types: ['info'] },
];

/** Whether `value` names a metric type (remote write's MetricType names, lowercased). */
export function isMetricType(value: string): value is MetricType {
  return (METRIC_TYPES as readonly string[]).includes(value);
}

/**
 * Orders two reports of one family so the choice among them does not depend on the order the
 * source lists them in (Prometheus' order follows its targets): a known type first, then by type,
 * help and unit.
 */
function preferred(a: MetricMetadata, b: MetricMetadata): number {
  const known = Number(a.type === 'unknown') - Number(b.type === 'unknown');
  if (known !== 0) return known;
  return (
    METRIC_TYPES.indexOf(a.type) - METRIC_TYPES.indexOf(b.type) ||
    compareStrings(a.help, b.help) ||
    compareStrings(a.unit, b.unit)
  );
}

/** One entry per family name: where a source reports several that differ, the preferred one. */
export class MetadataIndex {
  private readonly byName = new Map<string, MetricMetadata>();

  constructor(entries: readonly MetricMetadata[] = []) {
    this.add(entries);
  }

  /** More entries, e.g. of the next shard read. */
  add(entries: readonly MetricMetadata[]): void {
    for (const e of entries) {
      const seen = this.byName.get(e.metricFamilyName);
      if (seen === undefined || preferred(e, seen) < 0) this.byName.set(e.metricFamilyName, e);
    }
  }

  get size(): number {
    return this.byName.size;
  }

  /** The family of a series named `name` (its `__name__`), or undefined when the source reported none. */
  familyOf(name: string): MetricMetadata | undefined {
    const exact = this.byName.get(name);
    if (exact !== undefined) return exact;
    for (const { suffix, types } of SUFFIXES) {
      if (!name.endsWith(suffix)) continue;
      const family = this.byName.get(name.slice(0, -suffix.length));
      if (family !== undefined && types.includes(family.type)) return family;
    }
    return undefined;
  }
}
