/**
 * CloudWatch Embedded Metric Format: a JSON log line that CloudWatch turns into metrics,
 * with no API call and no extra permission. https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
 */

export type MetricUnit = 'Count' | 'Bytes' | 'Seconds' | 'Milliseconds' | 'None';

export interface Metric {
  readonly name: string;
  readonly value: number;
  readonly unit: MetricUnit;
}

export interface MetricSet {
  readonly namespace: string;
  readonly dimensions: Readonly<Record<string, string>>;
  readonly metrics: readonly Metric[];
  readonly timestampMs: number;
}

/** The EMF document of one metric set; dimension and metric names must not collide. */
export function emfDocument(set: MetricSet): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    _aws: {
      Timestamp: set.timestampMs,
      CloudWatchMetrics: [
        {
          Namespace: set.namespace,
          Dimensions: [Object.keys(set.dimensions)],
          Metrics: set.metrics.map((m) => ({ Name: m.name, Unit: m.unit })),
        },
      ],
    },
    ...set.dimensions,
  };
  for (const m of set.metrics) doc[m.name] = m.value;
  return doc;
}

export interface MetricsEmitter {
  emit(set: MetricSet): void;
}

/** Writes each metric set as one line; default: stdout, which Lambda ships to CloudWatch Logs. */
export function createMetricsEmitter(
  sink: (line: string) => void = (line) => process.stdout.write(line + '\n'),
): MetricsEmitter {
  return { emit: (set) => sink(JSON.stringify(emfDocument(set))) };
}
