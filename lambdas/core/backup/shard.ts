/**
 * One shard, end to end: pull → encode → store object → write manifest (the commit marker).
 *
 * The manifest is written only after the object is complete, so an object without a manifest
 * is never a backup. A committed shard is skipped unless forced. A re-run (forced, or of an
 * incomplete shard) writes its object under a new key beside the committed one, then the
 * manifest naming it: that one write is the switch, so at every instant the manifest names a
 * complete object, the old one or the new one. Only then is the superseded object deleted.
 *
 * Metric metadata is read from the source before the pull (or given by the caller) and stored
 * with the families the shard holds. When the source cannot answer for it, the shard is still
 * committed with its samples (they matter more, and the source may drop them meanwhile), but as
 * incomplete, naming the reason in `metadata_missing`: the next run pulls it again, and the run
 * says it is incomplete (exit 3).
 */
import { randomBytes } from 'node:crypto';
import { once, storeShardObject } from './store-object';
import { isObjectKeyOf, manifestKey, objectKey, rerunObjectKey, type ShardManifest, type ShardRef } from '../shard';
import type { ObjectStore, PrometheusReader, ReadOutcome } from '../ports';
import type { MetricMetadata } from '../types';
import { parseSelector } from '../prom/selector';
import { readManifestIfPresent, serializeManifest } from '../manifest';
import { pullWindow } from './pull';

export interface BackupShardDeps {
  readonly reader: PrometheusReader;
  readonly store: ObjectStore;
  readonly nowMs: () => number;
}

export interface BackupShardOptions {
  /** Re-pull and replace a shard that is already committed. */
  readonly force?: boolean;
  readonly signal?: AbortSignal;
  /**
   * The metric metadata of the source, from a mode that reads it along with the samples (e.g. a
   * federate capture's `# TYPE`/`# HELP`); without it, the reader's `metadata()` is asked.
   */
  readonly metadata?: readonly MetricMetadata[];
}

export interface BackupShardResult {
  readonly ref: ShardRef;
  readonly status: 'committed' | 'skipped';
  readonly manifest: ShardManifest;
  readonly seconds: number;
}

/** A committed shard is skipped unless forced; an incomplete one (its window was still open when pulled) never is. */
export function isSkipped(existing: ShardManifest | undefined, force?: boolean): boolean {
  return existing !== undefined && existing.complete && !force;
}

export async function backupShard(
  deps: BackupShardDeps,
  ref: ShardRef,
  options: BackupShardOptions = {},
): Promise<BackupShardResult> {
  const started = deps.nowMs();
  const mKey = manifestKey(ref);
  const existing = await readManifestIfPresent(deps.store, mKey);
  if (existing !== undefined && isSkipped(existing, options.force)) {
    return { ref, status: 'skipped', manifest: existing, seconds: (deps.nowMs() - started) / 1000 };
  }

  const pulledAtMs = deps.nowMs();
  const oKey = existing === undefined ? objectKey(ref) : rerunObjectKey(ref, newGeneration(pulledAtMs));
  const { metadata, missing: metadataMissing } = options.metadata
    ? { metadata: options.metadata, missing: undefined }
    : await readMetadata(deps.reader, options.signal);
  let outcome: ReadOutcome | undefined;
  const pieces = pullWindow(deps.reader, ref.window, parseSelector(ref.selector), options.signal, (o) => {
    outcome = o;
  });
  const stored = await storeShardObject(deps.store, {
    ref,
    objectKey: oKey,
    pieces,
    pulledFrom: deps.reader.endpoint,
    // A replica that did not answer may hold samples this shard lacks: pull it again next run.
    // Unreadable metadata too: the next run pulls the shard again.
    complete: () =>
      ref.window.endMs <= pulledAtMs && (outcome?.missingReplicas.length ?? 0) === 0 && metadataMissing === undefined,
    createdAtMs: pulledAtMs,
    metadata,
  });
  const manifest: ShardManifest = {
    ...stored,
    ...replicaFields(outcome, deps.reader.endpoint),
    ...(metadataMissing !== undefined ? { metadata_missing: metadataMissing } : {}),
  };
  await deps.store.put(mKey, once(serializeManifest(manifest)));
  if (existing !== undefined && existing.object_key !== oKey && isObjectKeyOf(ref, existing.object_key)) {
    // The new backup is committed; a superseded object left behind is no backup (no manifest names it).
    await deps.store.delete(existing.object_key).catch(() => undefined);
  }
  return { ref, status: 'committed', manifest, seconds: (deps.nowMs() - started) / 1000 };
}

/** The source's metadata, or why it could not be read (an abort is no reason: it fails the shard). */
async function readMetadata(
  reader: PrometheusReader,
  signal: AbortSignal | undefined,
): Promise<{ metadata?: readonly MetricMetadata[]; missing?: string }> {
  if (!reader.metadata) return {};
  try {
    return { metadata: await reader.metadata(signal) };
  } catch (err) {
    if (signal?.aborted) throw err;
    return { missing: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
  }
}

/** Unique per run, also for two runs in one millisecond: a re-run never writes over an object a manifest names. */
function newGeneration(pulledAtMs: number): string {
  return `${pulledAtMs.toString(36)}-${randomBytes(4).toString('hex')}`;
}

/** Where the samples came from, and for merged HA replicas what conflicted and who was missing. */
function replicaFields(outcome: ReadOutcome | undefined, endpoint: string) {
  if (!outcome) return { pulled_from: endpoint };
  return {
    pulled_from: outcome.pulledFrom.join(', '),
    ...(outcome.pulledFrom.length + outcome.missingReplicas.length > 1 || outcome.conflictingSamples > 0
      ? { conflicting_samples: outcome.conflictingSamples }
      : {}),
    ...(outcome.missingReplicas.length > 0 ? { missing_replicas: outcome.missingReplicas } : {}),
  };
}
