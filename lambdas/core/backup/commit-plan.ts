/**
 * commit-plan: commit a planned run from what the store holds, not from what the workers
 * reported. Reads the manifest of every planned shard, advances the checkpoint over the
 * contiguous windows whose shards (one per planned selector) are all complete, and names
 * the planned shards that have no manifest.
 */
import { CorruptShardError } from '../errors';
import { readManifestIfPresent } from '../manifest';
import { mapPool } from '../pool';
import type { ObjectStore } from '../ports';
import { manifestKey, objectKey, type ShardManifest, type ShardRef } from '../shard';
import type { TimeWindow } from '../types';
import { commitCheckpoint, type Checkpoint } from './commit';

const MANIFEST_READS = 16;

export interface PlannedCommit {
  readonly checkpoint: Checkpoint | undefined;
  /** Planned shards with a manifest (complete or not). */
  readonly committed: readonly ShardManifest[];
  /** Object keys of planned shards without a (readable) manifest. */
  readonly missing: readonly string[];
  readonly samples: number;
  readonly storedBytes: number;
}

export async function commitPlanned(
  store: ObjectStore,
  source: string,
  refs: readonly ShardRef[],
  nowMs: number,
): Promise<PlannedCommit> {
  const manifests = await mapPool(refs, MANIFEST_READS, async (ref): Promise<ShardManifest | undefined> => {
    try {
      return await readManifestIfPresent(store, manifestKey(ref));
    } catch (err) {
      // A corrupt manifest is no commit: the shard is reported, and its next run rewrites it.
      if (err instanceof CorruptShardError) return undefined;
      throw err;
    }
  });

  const windows = new Map<string, { window: TimeWindow; complete: boolean }>();
  refs.forEach((ref, i) => {
    const id = `${ref.window.startMs}/${ref.window.endMs}`;
    const w = windows.get(id) ?? { window: ref.window, complete: true };
    w.complete &&= manifests[i]?.complete === true;
    windows.set(id, w);
  });
  const checkpoint = await commitCheckpoint(store, {
    source,
    planned: [...windows.values()].map((w) => w.window),
    committed: [...windows.values()].filter((w) => w.complete).map((w) => w.window),
    nowMs,
  });

  const committed = manifests.filter((m): m is ShardManifest => m !== undefined);
  return {
    checkpoint,
    committed,
    missing: refs.filter((_, i) => manifests[i] === undefined).map(objectKey),
    samples: committed.reduce((a, m) => a + m.samples, 0),
    storedBytes: committed.reduce((a, m) => a + m.stored_bytes, 0),
  };
}
