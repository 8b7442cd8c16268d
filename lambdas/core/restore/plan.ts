/**
 * plan: which committed shards hold samples in [from, to), found through the day-partitioned
 * manifest tree (the catalog) rather than a listing of the whole store.
 */
import type { ObjectStore } from '../ports';
import type { ShardManifest } from '../shard';
import { listManifests, listSources } from '../manifest';
import { InputError } from '../errors';

export interface RestorePlanInput {
  /** Sources to restore; all sources in the store when empty. */
  readonly sources: readonly string[];
  readonly fromMs: number;
  readonly toMs: number;
  /** The longest shard length the store may hold, to find shards that start before fromMs. */
  readonly maxShardMs?: number;
}

export interface RestorePlan {
  readonly shards: readonly ShardManifest[];
  readonly series: number;
  readonly samples: number;
  readonly stored_bytes: number;
}

export async function planRestore(store: ObjectStore, input: RestorePlanInput): Promise<RestorePlan> {
  if (input.fromMs >= input.toMs) throw new InputError('--from must be before --to');
  const known = await listSources(store);
  const sources = input.sources.length > 0 ? input.sources : known;
  for (const s of sources) {
    if (!known.includes(s)) {
      throw new InputError(
        `source ${JSON.stringify(s)} has no backups in ${store.location}; sources there: ${known.join(', ') || '(none)'}`,
      );
    }
  }
  const shards: ShardManifest[] = [];
  for (const source of sources) {
    const found = await listManifests(store, source, input.fromMs, input.toMs, input.maxShardMs ?? 86_400_000);
    shards.push(...preferUnfiltered(found));
  }
  // Oldest window first, so a target without an out-of-order window sees time move forward.
  shards.sort((a, b) => a.start_ms - b.start_ms || a.source.localeCompare(b.source));
  return {
    shards,
    series: shards.reduce((a, m) => a + m.series, 0),
    samples: shards.reduce((a, m) => a + m.samples, 0),
    stored_bytes: shards.reduce((a, m) => a + m.stored_bytes, 0),
  };
}

/** Where a window has a shard of every series, narrower shards of it would only repeat samples. */
function preferUnfiltered(manifests: readonly ShardManifest[]): ShardManifest[] {
  const full = new Set(manifests.filter((m) => m.selector === '').map((m) => `${m.start_ms}/${m.end_ms}`));
  return manifests.filter((m) => m.selector === '' || !full.has(`${m.start_ms}/${m.end_ms}`));
}
