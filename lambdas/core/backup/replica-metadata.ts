/**
 * Metric metadata of a source with HA replicas: the union of what the replicas that answer
 * report (they scrape the same targets; the shard encoder picks one entry per family
 * deterministically). It fails only when no replica answers and one of them has metadata to give.
 */
import { SourceRejectedError, SourceUnavailableError } from '../errors';
import type { PrometheusReader } from '../ports';
import type { MetricMetadata } from '../types';

export async function replicaMetadata(
  replicas: readonly PrometheusReader[],
  signal?: AbortSignal,
): Promise<readonly MetricMetadata[] | undefined> {
  const results = await Promise.allSettled(replicas.map((r) => (r.metadata ? r.metadata(signal) : undefined)));
  signal?.throwIfAborted();
  const answered = results.flatMap((r) => (r.status === 'fulfilled' && r.value !== undefined ? [r.value] : []));
  const failed = results.flatMap((r, i) =>
    r.status === 'rejected' ? [{ endpoint: replicas[i]!.endpoint, error: r.reason as Error }] : [],
  );
  if (answered.length > 0 || failed.length === 0) return answered.length > 0 ? answered.flat() : undefined;
  if (failed.length === 1) throw failed[0]!.error;
  const ErrorClass = failed.some((f) => f.error instanceof SourceUnavailableError)
    ? SourceUnavailableError
    : SourceRejectedError;
  throw new ErrorClass(
    `no replica answered for metric metadata: ${failed.map((f) => `${f.endpoint}: ${f.error.message}`).join('; ')}`,
    { cause: failed[0]!.error },
  );
}
