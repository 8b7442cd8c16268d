/**
 * gc-plan: which stored keys are garbage, given the manifests, the modification times and a
 * grace period. Pure; gc.ts does the listing and deleting.
 *
 * Garbage is what a killed or superseded put leaves behind: a temporary file of a put that never
 * finished, an object no manifest names (its run died between the object and the manifest
 * write, or a re-run superseded it and died before deleting it). A manifest is the commit
 * marker, so an object a readable manifest names is never garbage. The grace period keeps the
 * object and temporary files of a run still in progress: its manifest may not be written yet.
 */

/** A stored key with its size and last modification (undefined when the store did not say). */
export interface StoredItem {
  readonly key: string;
  readonly size: number;
  readonly modifiedMs: number | undefined;
}

/** A manifest key and the object it names; `objectKey` undefined when the manifest is unreadable. */
export interface ManifestRef {
  readonly manifestKey: string;
  readonly objectKey: string | undefined;
}

export interface GarbageInput {
  /** Every key under shards/. */
  readonly objects: readonly StoredItem[];
  /** Temporary files of unfinished puts (stores that have them). */
  readonly temporaries: readonly StoredItem[];
  readonly manifests: readonly ManifestRef[];
  readonly nowMs: number;
  readonly graceMs: number;
}

export interface GarbagePlan {
  readonly delete: readonly StoredItem[];
  /** Unreferenced objects and temporary files younger than the grace period (or of unknown age). */
  readonly keptYoung: readonly StoredItem[];
  /** Unreferenced objects of a shard whose manifest is unreadable: which object it names is unknown. */
  readonly keptUnreadable: readonly StoredItem[];
  /** Keys under shards/ that are not shard objects: not ours to delete. */
  readonly keptUnknown: readonly StoredItem[];
  /** Objects a manifest names. */
  readonly referenced: number;
}

/** `shards/<source>/<YYYY>/<MM>/<DD>/<name>[.<generation>].v<version>.pvs`, as shard.ts lays them out. */
const OBJECT_KEY = /^shards\/([^/]+\/\d{4}\/\d{2}\/\d{2}\/[^./]+)(?:\.[0-9a-z][0-9a-z-]*)?\.v\d+\.pvs$/;
/** `manifests/<source>/<YYYY>/<MM>/<DD>/<name>.v<version>.json`. */
const MANIFEST_KEY = /^manifests\/([^/]+\/\d{4}\/\d{2}\/\d{2}\/[^./]+)\.v\d+\.json$/;

/** The shard an object key belongs to (source, day and name), or undefined for a key of another shape. */
export function shardOfObjectKey(key: string): string | undefined {
  return OBJECT_KEY.exec(key)?.[1];
}

/** The shard a manifest key belongs to, in the same form as shardOfObjectKey. */
export function shardOfManifestKey(key: string): string | undefined {
  return MANIFEST_KEY.exec(key)?.[1];
}

function isYoung(item: StoredItem, nowMs: number, graceMs: number): boolean {
  // Unknown age counts as young: deleting is the one step that cannot be undone.
  return item.modifiedMs === undefined || nowMs - item.modifiedMs < graceMs;
}

export function planGarbage(input: GarbageInput): GarbagePlan {
  const referenced = new Set<string>();
  const unreadableShards = new Set<string>();
  for (const m of input.manifests) {
    if (m.objectKey !== undefined) {
      referenced.add(m.objectKey);
      continue;
    }
    const shard = shardOfManifestKey(m.manifestKey);
    if (shard !== undefined) unreadableShards.add(shard);
  }

  const plan = {
    delete: [] as StoredItem[],
    keptYoung: [] as StoredItem[],
    keptUnreadable: [] as StoredItem[],
    keptUnknown: [] as StoredItem[],
    referenced: 0,
  };
  for (const o of input.objects) {
    if (referenced.has(o.key)) {
      plan.referenced++;
      continue;
    }
    const shard = shardOfObjectKey(o.key);
    if (shard === undefined) plan.keptUnknown.push(o);
    else if (unreadableShards.has(shard)) plan.keptUnreadable.push(o);
    else if (isYoung(o, input.nowMs, input.graceMs)) plan.keptYoung.push(o);
    else plan.delete.push(o);
  }
  for (const t of input.temporaries) {
    (isYoung(t, input.nowMs, input.graceMs) ? plan.keptYoung : plan.delete).push(t);
  }
  return plan;
}
