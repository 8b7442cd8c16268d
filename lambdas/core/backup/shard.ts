/**
 * One shard, end to end: pull → encode → store object → write manifest (the commit marker).
 *
 * The manifest is written only after the object is complete, so an object without a manifest
 * is never a backup. A committed shard is skipped unless forced. A re-run (forced, or of an
 * incomplete shard) writes its object under a new key beside the committed one, then the
 * manifest naming it: that one write is the switch, so at every instant the manifest names a
 * complete object, the old one or the new one. Only then is the superseded object deleted.
 */
import { randomBytes } from 'node:crypto';
import { once, storeShardObject } from './store-object';
import { isObjectKeyOf, manifestKey, objectKey, rerunObjectKey, type ShardManifest, type ShardRef } from '../shard';
import type { ObjectStore, PrometheusReader, ReadOutcome } from '../ports';
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
    complete: () => ref.window.endMs <= pulledAtMs && (outcome?.missingReplicas.length ?? 0) === 0,
    createdAtMs: pulledAtMs,
  });
  const manifest: ShardManifest = { ...stored, ...replicaFields(outcome, deps.reader.endpoint) };
  await deps.store.put(mKey, once(serializeManifest(manifest)));
  if (existing !== undefined && existing.object_key !== oKey && isObjectKeyOf(ref, existing.object_key)) {
    // The new backup is committed; a superseded object left behind is no backup (no manifest names it).
    await deps.store.delete(existing.object_key).catch(() => undefined);
  }
  return { ref, status: 'committed', manifest, seconds: (deps.nowMs() - started) / 1000 };
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
