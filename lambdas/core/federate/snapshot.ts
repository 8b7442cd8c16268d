/**
 * snapshot: one /federate answer → samples per shard window → one snapshot shard per window.
 *
 * A snapshot shard is a normal shard object with a normal manifest, both under snapshots/
 * (see shard.ts): the object is written first and the manifest last, so a killed capture leaves
 * at most an object without a manifest, which nothing reads and compaction removes later.
 */
import { randomBytes } from 'node:crypto';
import { serializeManifest } from '../manifest';
import type { ObjectStore } from '../ports';
import type { MetricMetadata } from '../types';
import type { ParsedExposition } from '../prom/exposition';
import { snapshotKeys, type ShardManifest, type ShardRef } from '../shard';
import { once, storeShardObject } from '../backup/store-object';
import { alignDown } from '../backup/plan-run';
import { SeriesSet } from './series-set';

/** The newest timestamp captured per series, so a sample repeated by the next snapshot is stored once. */
export class LastSeen {
  private readonly last = new Map<string, number>();

  /** True (and remembered) when `timestampMs` is not the timestamp last captured for `key`. */
  isNew(key: string, timestampMs: number): boolean {
    if (this.last.get(key) === timestampMs) return false;
    this.last.set(key, timestampMs);
    return true;
  }

  get series(): number {
    return this.last.size;
  }
}

export interface SplitSnapshot {
  /** Window start → the new samples of that window. */
  readonly windows: Map<number, SeriesSet>;
  /** Samples in the answer, repeats of the previous snapshot included. */
  readonly received: number;
  /** Samples not captured before. */
  readonly fresh: number;
}

/**
 * Groups the samples of one answer by the shard window of their own timestamp (a line without
 * one is taken at `fetchedAtMs`), leaving out those `seen` has already captured.
 */
export function splitSnapshot(
  parsed: ParsedExposition,
  fetchedAtMs: number,
  shardLengthMs: number,
  seen: LastSeen,
  seriesKey: (i: number) => string,
): SplitSnapshot {
  const windows = new Map<number, SeriesSet>();
  let fresh = 0;
  for (let i = 0; i < parsed.labels.length; i++) {
    const t = parsed.timestamps[i]!;
    const timestampMs = Number.isNaN(t) ? fetchedAtMs : t;
    if (!seen.isNew(seriesKey(i), timestampMs)) continue;
    const start = alignDown(timestampMs, shardLengthMs);
    let set = windows.get(start);
    if (set === undefined) windows.set(start, (set = new SeriesSet()));
    set.add(parsed.labels[i]!, timestampMs, parsed.values, i);
    fresh++;
  }
  return { windows, received: parsed.labels.length, fresh };
}

/** Commits one snapshot shard of `ref`: its object, then its manifest. */
export async function commitSnapshot(
  store: ObjectStore,
  ref: ShardRef,
  samples: SeriesSet,
  fetchedAtMs: number,
  endpoint: string,
  metadata?: readonly MetricMetadata[],
): Promise<ShardManifest> {
  const keys = snapshotKeys(ref, fetchedAtMs, randomBytes(4).toString('hex'));
  const manifest = await storeShardObject(store, {
    ref,
    objectKey: keys.object,
    pieces: samples.pieces(),
    pulledFrom: endpoint,
    complete: () => false,
    createdAtMs: fetchedAtMs,
    metadata,
  });
  await store.put(keys.manifest, once(serializeManifest(manifest)));
  return manifest;
}
