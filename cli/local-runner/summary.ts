/**
 * A read-only look at a backup run in the store, for when CommitBackup failed (its output is
 * then an error): the planned shards with and without a manifest, their samples and bytes, and
 * the checkpoint, read the way CommitBackup reads them, writing nothing.
 */
import { readCheckpoint } from '../../lambdas/core/backup/commit';
import { CorruptShardError } from '../../lambdas/core/errors';
import { readManifestIfPresent } from '../../lambdas/core/manifest';
import { mapPool } from '../../lambdas/core/pool';
import type { ObjectStore } from '../../lambdas/core/ports';
import { manifestKey, type ShardManifest } from '../../lambdas/core/shard';
import { readPlan } from '../../lambdas/handlers/io';
import { validateBackupShardTask } from '../../lambdas/schemas/tasks';

export interface StoredBackup {
  readonly committed: number;
  readonly missing: number;
  readonly samples: number;
  readonly storedBytes: number;
  readonly checkpointMs: number | null;
}

export async function storedBackup(store: ObjectStore, source: string, planKey: string): Promise<StoredBackup> {
  const tasks = await readPlan(store, planKey, validateBackupShardTask);
  const manifests = await mapPool(tasks, 16, async (t): Promise<ShardManifest | undefined> => {
    const ref = { source: t.source, window: { startMs: t.startMs, endMs: t.endMs }, selector: t.selector };
    try {
      return await readManifestIfPresent(store, manifestKey(ref));
    } catch (err) {
      if (err instanceof CorruptShardError) return undefined;
      throw err;
    }
  });
  const present = manifests.filter((m): m is ShardManifest => m !== undefined);
  const checkpoint = await readCheckpoint(store, source);
  return {
    committed: present.length,
    missing: tasks.length - present.length,
    samples: present.reduce((a, m) => a + m.samples, 0),
    storedBytes: present.reduce((a, m) => a + m.stored_bytes, 0),
    checkpointMs: checkpoint?.end_ms ?? null,
  };
}
