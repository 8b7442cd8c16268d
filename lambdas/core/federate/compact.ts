/**
 * compact: the snapshots of one shard window → ONE normal shard (same format, key and manifest
 * as a backup's), so restore, export, verify and inspect read it unchanged.
 *
 * Snapshots live under snapshots/, which no reader lists: they are never counted as shards.
 * Order of the writes, each step safe to be killed after:
 *   1. merge the committed shard of the window (if any) and every snapshot, each sample once;
 *   2. write the new object under a key of its own (never over a committed one, nor over the
 *      object of a concurrent compaction) and read it back: its SHA-256, series and sample
 *      counts must match before anything points at it;
 *   3. write the manifest with a conditional write against the version read in 1, so two
 *      compactions of one window never replace each other's samples (the loser retries later);
 *   4. advance the checkpoint; 5. delete the superseded object; 6. delete the snapshots,
 *      manifest before object.
 * Killed before 3: the snapshots are untouched and the next compaction starts over. Killed after
 * 3: the snapshots' samples are all in the committed shard; the next compaction finds nothing new,
 * commits nothing and deletes them.
 */
import { randomBytes } from 'node:crypto';
import { CorruptShardError, ObjectNotFoundError, PreconditionFailedError } from '../errors';
import { decodeShard } from '../format';
import { parseManifest, readManifest, serializeManifest } from '../manifest';
import type { ObjectInfo, ObjectStore } from '../ports';
import type { MetricMetadata } from '../types';
import { fetchVerified } from '../restore/fetch';
import {
  isObjectKeyOf,
  manifestKey,
  rerunObjectKey,
  snapshotPrefix,
  snapshotSourcePrefix,
  type ShardManifest,
  type ShardRef,
} from '../shard';
import { verifyShard } from '../verify';
import { commitCheckpoint } from '../backup/commit';
import { SeriesSet } from './series-set';
import { storeShardObject } from '../backup/store-object';

/** An object under snapshots/ that no manifest names is a killed capture's leftover once this old. */
export const SNAPSHOT_ORPHAN_GRACE_MS = 3_600_000;

export interface CompactResult {
  readonly ref: ShardRef;
  /**
   * compacted: a new shard is committed; unchanged: the committed shard already held every
   * snapshot sample; raced: another compaction changed the window meanwhile, nothing was committed.
   */
  readonly status: 'compacted' | 'unchanged' | 'raced';
  readonly manifest?: ShardManifest;
  readonly snapshots: number;
  /** Snapshot samples that repeated a stored (series, timestamp) with another value: the first kept. */
  readonly conflicts: number;
}

/** The windows of `source` with snapshots waiting, from one listing and one manifest each. */
export async function listPendingWindows(store: ObjectStore, source: string): Promise<ShardRef[]> {
  const firstManifest = new Map<string, string>();
  for await (const info of store.list(snapshotSourcePrefix(source))) {
    if (!info.key.endsWith('.json')) continue;
    const dir = info.key.slice(0, info.key.lastIndexOf('/') + 1);
    if (!firstManifest.has(dir)) firstManifest.set(dir, info.key);
  }
  const refs: ShardRef[] = [];
  for (const key of firstManifest.values()) {
    try {
      const m = await readManifest(store, key);
      refs.push({ source: m.source, window: { startMs: m.start_ms, endMs: m.end_ms }, selector: m.selector });
    } catch (err) {
      // Deleted by a compaction meanwhile: nothing waits there any more.
      if (!(err instanceof ObjectNotFoundError)) throw err;
    }
  }
  return refs.sort((a, b) => a.window.startMs - b.window.startMs);
}

/** Adds a shard's samples to `set` and its metric metadata to `metadata`. */
async function addShard(
  set: SeriesSet,
  metadata: MetricMetadata[],
  store: ObjectStore,
  manifest: ShardManifest,
): Promise<void> {
  const onMetadata = (entries: readonly MetricMetadata[]) => metadata.push(...entries);
  for await (const piece of decodeShard(await fetchVerified(store, manifest), { onMetadata })) set.addPiece(piece);
}

export interface CompactOptions {
  readonly nowMs: () => number;
  /** pulled_from of the compacted shard. */
  readonly endpoint: string;
}

export async function compactWindow(
  store: ObjectStore,
  ref: ShardRef,
  options: CompactOptions,
): Promise<CompactResult> {
  const listed: ObjectInfo[] = [];
  for await (const info of store.list(snapshotPrefix(ref), { modified: true })) listed.push(info);
  const snapshots: ShardManifest[] = [];
  const snapshotKeys: string[] = [];
  const raced = (): CompactResult => ({ ref, status: 'raced', snapshots: snapshots.length, conflicts: 0 });
  try {
    for (const info of listed) {
      if (!info.key.endsWith('.json')) continue;
      snapshots.push(await readManifest(store, info.key));
      snapshotKeys.push(info.key);
    }
  } catch (err) {
    if (err instanceof ObjectNotFoundError) return raced();
    throw err;
  }

  const mKey = manifestKey(ref);
  const stored = await store.getVersioned(mKey);
  const existing = stored === undefined ? undefined : parseManifest(stored.bytes, mKey);
  const set = new SeriesSet();
  // Every entry seen; the encoder picks one per family whatever their order.
  const metadata: MetricMetadata[] = [];
  try {
    if (existing !== undefined) await addShard(set, metadata, store, existing);
    for (const s of snapshots) await addShard(set, metadata, store, s);
  } catch (err) {
    // A snapshot deleted meanwhile was compacted by another run: start over next time.
    if (err instanceof ObjectNotFoundError) return raced();
    throw err;
  }
  const pieces = set.pieces();
  const samples = pieces.reduce((n, p) => n + p.timestamps.length, 0);

  let manifest = existing;
  const status = existing !== undefined && samples === existing.samples ? 'unchanged' : 'compacted';
  if (status === 'compacted') {
    const nowMs = options.nowMs();
    // Always a key of its own: two compactions of one window may run at once, and the loser
    // deletes what it wrote, which must never be the object the winner committed.
    const oKey = rerunObjectKey(ref, `${nowMs.toString(36)}-${randomBytes(4).toString('hex')}`);
    const written = await storeShardObject(store, {
      ref,
      objectKey: oKey,
      pieces,
      pulledFrom: options.endpoint,
      complete: () => ref.window.endMs <= nowMs,
      createdAtMs: nowMs,
      metadata,
    });
    const check = await verifyShard(store, written);
    if (check.verdict !== 'ok' || written.samples !== samples || written.series !== pieces.length) {
      await store.delete(oKey).catch(() => undefined);
      throw new CorruptShardError(
        `compacted shard ${oKey} in ${store.location} did not read back as written (${check.verdict}: ${written.series} series, ${written.samples} samples, expected ${pieces.length} and ${samples}; ${check.problems.join('; ')}); its snapshots are kept`,
      );
    }
    try {
      await store.putIfMatch(mKey, serializeManifest(written), stored?.etag);
    } catch (err) {
      if (!(err instanceof PreconditionFailedError)) throw err;
      await store.delete(oKey).catch(() => undefined);
      return raced();
    }
    manifest = written;
  }
  if (manifest === undefined) return { ref, status: 'unchanged', snapshots: 0, conflicts: set.conflicts };

  if (manifest.complete) {
    await commitCheckpoint(store, {
      source: ref.source,
      planned: [ref.window],
      committed: [ref.window],
      nowMs: options.nowMs(),
    });
  }
  if (
    existing !== undefined &&
    existing.object_key !== manifest.object_key &&
    isObjectKeyOf(ref, existing.object_key)
  ) {
    await store.delete(existing.object_key).catch(() => undefined);
  }
  await deleteSnapshots(store, listed, snapshots, snapshotKeys, options.nowMs());
  return { ref, status, manifest, snapshots: snapshots.length, conflicts: set.conflicts };
}

/** The compacted snapshots (manifest first: an object alone is never read), and old leftovers of killed captures. */
async function deleteSnapshots(
  store: ObjectStore,
  listed: readonly ObjectInfo[],
  manifests: readonly ShardManifest[],
  manifestKeys: readonly string[],
  nowMs: number,
): Promise<void> {
  const named = new Set(manifests.map((m) => m.object_key));
  for (let i = 0; i < manifests.length; i++) {
    await store.delete(manifestKeys[i]!);
    await store.delete(manifests[i]!.object_key);
  }
  for (const info of listed) {
    if (info.key.endsWith('.json') || named.has(info.key)) continue;
    if (info.modifiedMs !== undefined && nowMs - info.modifiedMs >= SNAPSHOT_ORPHAN_GRACE_MS)
      await store.delete(info.key);
  }
}
