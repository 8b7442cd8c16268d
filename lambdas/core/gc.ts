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
import { planGarbage, type ManifestRef, type StoredItem } from './gc-plan';

/** The default grace period: longer than any run of one shard takes from object to manifest. */
export const DEFAULT_GC_GRACE_MS = 3_600_000;

const MANIFEST_READS = 16;
const DELETES = 8;

export interface GcOptions {
  readonly nowMs: number;
  readonly graceMs: number;
  readonly dryRun?: boolean;
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

export async function collectGarbage(store: ObjectStore, options: GcOptions): Promise<GcReport> {
  const objects = await collect(store.list('shards/', { modified: true }));
  const temporaries = await collect(store.listTemporary?.());
  const manifestKeys = (await collect(store.list('manifests/'))).map((m) => m.key);
  const manifests = await mapPool(manifestKeys, MANIFEST_READS, async (key): Promise<ManifestRef | undefined> => {
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
