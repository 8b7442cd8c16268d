/**
 * commit-report: what a committed run tells its operators. The run's metrics (emitted as
 * CloudWatch EMF by the handler) and the text of the failure that names the shards a run did
 * not back up. Pure.
 */
import { formatIso } from '../time';
import type { Checkpoint } from './commit';
import type { PlannedCommit } from './commit-plan';

export interface RunMetric {
  readonly name: string;
  readonly value: number;
  readonly unit: 'Count' | 'Bytes' | 'Seconds';
}

/** Keys named in the failure; Step Functions keeps an error cause up to 32 KiB. */
export const MAX_LISTED_SHARDS = 20;

/** Shards, samples and bytes of the run; its duration, lag and checkpoint age when known. */
export function runMetrics(result: PlannedCommit, nowMs: number, plannedAtMs: number | undefined): RunMetric[] {
  const metrics: RunMetric[] = [
    { name: 'ShardsCommitted', value: result.committed.length, unit: 'Count' },
    { name: 'ShardsFailed', value: result.missing.length, unit: 'Count' },
    { name: 'Samples', value: result.samples, unit: 'Count' },
    { name: 'StoredBytes', value: result.storedBytes, unit: 'Bytes' },
  ];
  if (plannedAtMs !== undefined)
    metrics.push({ name: 'DurationSeconds', value: (nowMs - plannedAtMs) / 1000, unit: 'Seconds' });
  const cp = result.checkpoint;
  if (cp) metrics.push({ name: 'LagSeconds', value: (nowMs - cp.end_ms) / 1000, unit: 'Seconds' });
  if (cp && !Number.isNaN(Date.parse(cp.updated_at))) {
    metrics.push({ name: 'CheckpointAgeSeconds', value: (nowMs - Date.parse(cp.updated_at)) / 1000, unit: 'Seconds' });
  }
  return metrics;
}

export interface MissingShards {
  readonly source: string;
  readonly runId: string;
  readonly planned: number;
  /** Object keys of the planned shards without a manifest; not empty. */
  readonly missing: readonly string[];
  readonly checkpoint: Checkpoint | undefined;
}

/** Names the shards not backed up (the first MAX_LISTED_SHARDS), where the checkpoint is, and what happens next. */
export function missingShardsMessage(m: MissingShards): string {
  const { missing } = m;
  const listed =
    missing.slice(0, MAX_LISTED_SHARDS).join(', ') +
    (missing.length > MAX_LISTED_SHARDS ? ` and ${missing.length - MAX_LISTED_SHARDS} more` : '');
  return (
    `${missing.length} of ${m.planned} shards of source ${m.source} in run ${m.runId} were not backed up: ${listed}. ` +
    `The checkpoint is at ${m.checkpoint ? formatIso(m.checkpoint.end_ms) : '(not set yet)'}; the next run retries from there ` +
    '(the BackupShard logs name each shard’s error)'
  );
}
