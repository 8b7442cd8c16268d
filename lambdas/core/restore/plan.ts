/**
 * plan: which committed shards hold samples in [from, to), found through the day-partitioned
 * manifest tree (the catalog) rather than a listing of the whole store; which parts of the range
 * no shard holds (gaps); and, where shards overlap, which shard each part is read from.
 */
import type { ObjectStore } from '../ports';
import type { ShardManifest } from '../shard';
import { requireSources, scanManifests, type UnreadableManifest } from '../manifest';
import { InputError } from '../errors';
import { findGaps, planReads, type Gap, type ShardSlice } from './coverage';

export interface RestorePlanInput {
  /** Sources to restore; all sources in the store when empty. */
  readonly sources: readonly string[];
  readonly fromMs: number;
  readonly toMs: number;
  /** The longest shard length the store may hold, to find shards that start before fromMs. */
  readonly maxShardMs?: number;
}

/** A shard to read, and (when planned against overlapping shards) the part of it to write. */
export interface PlannedShard extends ShardManifest {
  readonly slice?: ShardSlice;
}

export interface RestorePlan {
  /** The shards that supply some part of the range, oldest window first. */
  readonly shards: readonly ShardManifest[];
  /** Every read to make, oldest part first: shards that overlap others are read for their part only. */
  readonly reads: readonly PlannedShard[];
  readonly series: number;
  readonly samples: number;
  readonly stored_bytes: number;
  /** Parts of the range without a committed shard, per source and selector. */
  readonly gaps: readonly Gap[];
  /** Manifests in the range that do not parse: their shards count as corrupt. */
  readonly unreadable: readonly UnreadableManifest[];
}

export async function planRestore(store: ObjectStore, input: RestorePlanInput): Promise<RestorePlan> {
  if (input.fromMs >= input.toMs) throw new InputError('--from must be before --to');
  const known = await requireSources(store, input.sources);
  const sources = input.sources.length > 0 ? input.sources : known;
  const manifests: ShardManifest[] = [];
  const unreadable: UnreadableManifest[] = [];
  for (const source of sources) {
    const found = await scanManifests(store, source, input.fromMs, input.toMs, input.maxShardMs ?? 86_400_000);
    manifests.push(...found.manifests);
    unreadable.push(...found.unreadable);
  }
  const range = { startMs: input.fromMs, endMs: input.toMs };
  // Reads come oldest part first, so a target without an out-of-order window sees time move forward.
  const reads: PlannedShard[] = planReads(range, manifests).map((r) => ({ ...r.manifest, slice: r.slice }));
  const supplying = new Set(reads.filter((r) => r.slice!.part.endMs > r.slice!.part.startMs).map((r) => r.object_key));
  const shards = manifests
    .filter((m) => supplying.has(m.object_key))
    .sort((a, b) => a.start_ms - b.start_ms || a.source.localeCompare(b.source));
  // With input.sources empty, a source whose backups all lie outside the range is not a gap of it.
  const checked =
    input.sources.length > 0 || manifests.length === 0 ? sources : [...new Set(manifests.map((m) => m.source))];
  return {
    shards,
    reads,
    series: shards.reduce((a, m) => a + m.series, 0),
    samples: shards.reduce((a, m) => a + m.samples, 0),
    stored_bytes: shards.reduce((a, m) => a + m.stored_bytes, 0),
    gaps: findGaps(range, checked, manifests),
    unreadable,
  };
}
