/**
 * gc: deletes what killed or superseded runs left behind (see gc-plan.ts for what counts), once
 * older than the grace period. Best effort per key: a failed delete is reported, the rest
 * proceeds. Objects are listed before manifests, so an object committed meanwhile is seen as
 * referenced.
 */
import { CorruptShardError, ObjectNotFoundError } from './errors';
import { readManifest } from './manifest';
import { mapPool } from './pool';
import type { ObjectInfo, ObjectStore } from './ports';
import { planGarbage, shardOfManifestKey, shardOfObjectKey, type ManifestRef, type StoredItem } from './gc-plan';
import { checkpointKey } from './shard';

/** The default grace period: longer than any run of one shard takes from object to manifest. */
export const DEFAULT_GC_GRACE_MS = 3_600_000;

const MANIFEST_READS = 16;
const DELETES = 8;

export interface GcOptions {
  readonly nowMs: number;
  readonly graceMs: number;
  readonly dryRun?: boolean;
  /** Only this source's shards, manifests and checkpoint leftovers. @default every source */
  readonly source?: string;
  /**
   * 'ambiguous': read the manifests only of shards with more than one object; an object alone
   * beside its shard's manifest is taken as the one it names, so it is kept unread. What a
   * scheduled run can afford over years of history. @default 'all'
   */
  readonly readManifests?: 'all' | 'ambiguous';
}

export interface GcReport {
  readonly dry_run: boolean;
  /** Keys deleted (or, with dry_run, that would be). */
  readonly deleted: number;
  readonly bytes: number;
  readonly kept_young: number;
  readonly kept_unreadable: number;
  readonly kept_unknown: number;
  readonly referenced: number;
  readonly deleted_keys: readonly string[];
  readonly failures: readonly { readonly key: string; readonly error: string }[];
}

const item = (o: ObjectInfo): StoredItem => ({ key: o.key, size: o.size, modifiedMs: o.modifiedMs });

async function collect(items: AsyncIterable<ObjectInfo> | undefined): Promise<StoredItem[]> {
  const out: StoredItem[] = [];
  if (items !== undefined) for await (const o of items) out.push(item(o));
  return out;
}

/** Whether a temporary file belongs to `source`: under its shards or manifests, or beside its checkpoint. */
function ofSource(key: string, source: string): boolean {
  const checkpoint = checkpointKey(source);
  const slash = checkpoint.lastIndexOf('/');
  const checkpointTemp = `${checkpoint.slice(0, slash + 1)}.${checkpoint.slice(slash + 1)}.tmp-`;
  return (
    key.startsWith(`shards/${source}/`) || key.startsWith(`manifests/${source}/`) || key.startsWith(checkpointTemp)
  );
}

/** Manifests naming the only object of their shard, without reading them (see GcOptions.readManifests). */
function unambiguous(objects: readonly StoredItem[], manifestKeys: readonly string[]): Map<string, ManifestRef> {
  const objectsOf = new Map<string, string[]>();
  for (const o of objects) {
    const shard = shardOfObjectKey(o.key);
    if (shard !== undefined) objectsOf.set(shard, [...(objectsOf.get(shard) ?? []), o.key]);
  }
  const out = new Map<string, ManifestRef>();
  for (const manifestKey of manifestKeys) {
    const only = objectsOf.get(shardOfManifestKey(manifestKey) ?? '');
    if (only?.length === 1) out.set(manifestKey, { manifestKey, objectKey: only[0] });
  }
  return out;
}

export async function collectGarbage(store: ObjectStore, options: GcOptions): Promise<GcReport> {
  const scope = options.source === undefined ? '' : `${options.source}/`;
  const objects = await collect(store.list(`shards/${scope}`, { modified: true }));
  const temporaries = (await collect(store.listTemporary?.())).filter(
    (t) => options.source === undefined || ofSource(t.key, options.source),
  );
  const manifestKeys = (await collect(store.list(`manifests/${scope}`))).map((m) => m.key);
  const known =
    options.readManifests === 'ambiguous' ? unambiguous(objects, manifestKeys) : new Map<string, ManifestRef>();
  const manifests = await mapPool(manifestKeys, MANIFEST_READS, async (key): Promise<ManifestRef | undefined> => {
    const unread = known.get(key);
    if (unread !== undefined) return unread;
    try {
      return { manifestKey: key, objectKey: (await readManifest(store, key)).object_key };
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return undefined;
      if (err instanceof CorruptShardError) return { manifestKey: key, objectKey: undefined };
      throw err;
    }
  });
  const plan = planGarbage({
    objects,
    temporaries,
    manifests: manifests.filter((m): m is ManifestRef => m !== undefined),
    nowMs: options.nowMs,
    graceMs: options.graceMs,
  });

  const temporaryKeys = new Set(temporaries.map((t) => t.key));
  const failures: { key: string; error: string }[] = [];
  const deleted: StoredItem[] = [];
  await mapPool(plan.delete, DELETES, async (garbage) => {
    if (options.dryRun !== true) {
      try {
        if (temporaryKeys.has(garbage.key)) await store.deleteTemporary!(garbage.key);
        else await store.delete(garbage.key);
      } catch (err) {
        failures.push({ key: garbage.key, error: err instanceof Error ? err.message : String(err) });
        return;
      }
    }
    deleted.push(garbage);
  });
  return {
    dry_run: options.dryRun === true,
    deleted: deleted.length,
    bytes: deleted.reduce((a, d) => a + d.size, 0),
    kept_young: plan.keptYoung.length,
    kept_unreadable: plan.keptUnreadable.length,
    kept_unknown: plan.keptUnknown.length,
    referenced: plan.referenced,
    deleted_keys: deleted.map((d) => d.key).sort(),
    failures,
  };
}

/**
 * collectGarbage after a backup's commit: best effort, so a failure goes to `warn` (a delete that
 * failed, or gc as a whole) and never becomes the run's outcome.
 */
export async function cleanLeftovers(
  store: ObjectStore,
  options: GcOptions,
  warn: (message: string) => void,
): Promise<GcReport | undefined> {
  try {
    const gc = await collectGarbage(store, options);
    for (const f of gc.failures) warn(`gc cannot delete ${f.key}: ${f.error}`);
    return gc;
  } catch (err) {
    warn(`gc after the backup failed: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
}
