/**
 * A whole backup run in-process (the CLI's `backup`): plan → shards with bounded concurrency →
 * commit. Step Functions runs the same three steps as separate Lambdas.
 */
import type { ObjectStore, PrometheusReader } from '../ports';
import type { ShardRef } from '../shard';
import { manifestKey, objectKey } from '../shard';
import { readManifestIfPresent } from '../manifest';
import { mapPool } from '../pool';
import { withRetries, type ShardRetryPolicy } from '../retry';
import { formatIso } from '../time';
import { planShards } from './plan';
import { backupShard, isSkipped, type BackupShardResult } from './shard';
import { commitCheckpoint } from './commit';

export interface BackupRunInput {
  readonly source: string;
  readonly fromMs: number;
  readonly toMs: number;
  readonly shardLengthMs: number;
  readonly selectors: readonly string[];
  readonly force?: boolean;
  /** Prometheus serves at most 10 concurrent remote reads by default; stay well below. */
  readonly concurrency?: number;
}

export interface ShardFailure {
  readonly key: string;
  readonly error: string;
}

export interface BackupRunReport {
  readonly shards: number;
  readonly committed: number;
  readonly skipped: number;
  readonly failed: readonly ShardFailure[];
  readonly series: number;
  readonly samples: number;
  readonly raw_bytes: number;
  readonly stored_bytes: number;
  readonly seconds: number;
  readonly checkpoint_ms: number | null;
  /** HA replicas merged: samples whose values differed between replicas (the first replica's kept). */
  readonly conflicting_samples: number;
  /** Shards committed as incomplete because a replica did not answer; the next run pulls them again. */
  readonly missing_replicas: readonly { readonly key: string; readonly replicas: readonly string[] }[];
  /** Shards committed as incomplete because the source's metric metadata could not be read; pulled again next run. */
  readonly metadata_missing: readonly { readonly key: string; readonly error: string }[];
}

export interface BackupRunDeps {
  readonly reader: PrometheusReader;
  readonly store: ObjectStore;
  readonly nowMs: () => number;
  readonly onShardDone?: (result: BackupShardResult | ShardFailure, done: number, total: number) => void;
  /** Transient shard failures are retried with this policy (SHARD_RETRY, as on AWS). @default no retries */
  readonly retry?: ShardRetryPolicy;
  /** Called before waiting to retry a shard: its window, the error, the attempt that failed, the wait. */
  readonly onRetry?: (ref: ShardRef, err: unknown, attempt: number, delayMs: number) => void;
}

export function planBackup(input: BackupRunInput): ShardRef[] {
  const selectors = input.selectors.length > 0 ? input.selectors : [''];
  return selectors.flatMap((selector) =>
    planShards({
      source: input.source,
      fromMs: input.fromMs,
      toMs: input.toMs,
      shardLengthMs: input.shardLengthMs,
      selector,
    }),
  );
}

export interface PlannedShard {
  readonly ref: ShardRef;
  readonly key: string;
  /** Already committed: runBackup would skip it. */
  readonly skip: boolean;
}

/** What runBackup would do with each shard, from the manifests alone: nothing is pulled or written. */
export function previewBackup(store: ObjectStore, input: BackupRunInput): Promise<PlannedShard[]> {
  return mapPool(planBackup(input), input.concurrency ?? 4, async (ref) => ({
    ref,
    key: objectKey(ref),
    skip: isSkipped(await readManifestIfPresent(store, manifestKey(ref)), input.force),
  }));
}

function describeWindow(ref: ShardRef): string {
  return `[${formatIso(ref.window.startMs)}, ${formatIso(ref.window.endMs)})${ref.selector ? ` ${ref.selector}` : ''}`;
}

export async function runBackup(deps: BackupRunDeps, input: BackupRunInput): Promise<BackupRunReport> {
  const started = deps.nowMs();
  const refs = planBackup(input);
  let done = 0;
  const outcomes = await mapPool(refs, input.concurrency ?? 4, async (ref) => {
    let outcome: BackupShardResult | ShardFailure;
    let attempts = 0;
    try {
      outcome = deps.retry
        ? await withRetries(
            deps.retry,
            (attempt) => {
              attempts = attempt;
              return backupShard(deps, ref, { force: input.force });
            },
            { onRetry: (err, attempt, delayMs) => deps.onRetry?.(ref, err, attempt, delayMs) },
          )
        : await backupShard(deps, ref, { force: input.force });
    } catch (err) {
      const what = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      const tries = attempts > 1 ? `, after ${attempts} attempts` : '';
      outcome = { key: objectKey(ref), error: `${what} (shard ${describeWindow(ref)}${tries})` };
    }
    deps.onShardDone?.(outcome, ++done, refs.length);
    return outcome;
  });

  const results = outcomes.filter((o): o is BackupShardResult => 'status' in o);
  const failed = outcomes.filter((o): o is ShardFailure => 'error' in o);
  const checkpoint =
    input.selectors.length === 0
      ? await commitCheckpoint(deps.store, {
          source: input.source,
          planned: refs.map((r) => r.window),
          committed: results.filter((r) => r.manifest.complete).map((r) => r.ref.window),
          nowMs: deps.nowMs(),
        })
      : undefined;
  const sum = (f: (r: BackupShardResult) => number) => results.reduce((acc, r) => acc + f(r), 0);
  return {
    shards: refs.length,
    committed: results.filter((r) => r.status === 'committed').length,
    skipped: results.filter((r) => r.status === 'skipped').length,
    failed,
    series: sum((r) => r.manifest.series),
    samples: sum((r) => r.manifest.samples),
    raw_bytes: sum((r) => r.manifest.raw_bytes),
    stored_bytes: sum((r) => r.manifest.stored_bytes),
    seconds: (deps.nowMs() - started) / 1000,
    checkpoint_ms: checkpoint?.end_ms ?? null,
    conflicting_samples: sum((r) => (r.status === 'committed' ? (r.manifest.conflicting_samples ?? 0) : 0)),
    missing_replicas: results
      .filter((r) => r.status === 'committed' && r.manifest.missing_replicas)
      .map((r) => ({ key: r.manifest.object_key, replicas: r.manifest.missing_replicas! })),
    metadata_missing: results
      .filter((r) => r.status === 'committed' && r.manifest.metadata_missing)
      .map((r) => ({ key: r.manifest.object_key, error: r.manifest.metadata_missing! })),
  };
}
