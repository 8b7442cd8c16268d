/**
 * commit: advance the source's checkpoint over the contiguous run of committed, complete shards.
 * A gap (a failed or still-open shard) stops it, so the next scheduled run retries from there.
 *
 * Two runs of one source may commit at once. The checkpoint is written with a conditional write
 * (ObjectStore.putIfMatch: S3's If-Match / If-None-Match, a lock-guarded compare in a directory)
 * against the version it was computed from, not under a lease: a lease needs the same atomic
 * step to take it and would add an expiry to tune, while the compare needs no cleanup after a
 * SIGKILL. A run that loses the race reads the winner's checkpoint and advances from there, so
 * the checkpoint never moves back or over a gap; after COMMIT_ATTEMPTS lost races it reports
 * the conflict instead of overwriting.
 */
import type { ObjectStore, VersionedObject } from '../ports';
import { checkpointKey } from '../shard';
import { CorruptShardError, PreconditionFailedError } from '../errors';
import { advanceCheckpoint } from './checkpoint';
import type { TimeWindow } from '../types';

export interface Checkpoint {
  readonly source: string;
  /** Everything before this instant is committed. */
  readonly end_ms: number;
  readonly updated_at: string;
}

const COMMIT_ATTEMPTS = 8;

function parseCheckpoint(store: ObjectStore, key: string, stored: VersionedObject): Checkpoint {
  try {
    const parsed = JSON.parse(Buffer.from(stored.bytes).toString('utf8')) as Checkpoint;
    if (typeof parsed.end_ms !== 'number') throw new Error('end_ms is not a number');
    return parsed;
  } catch (err) {
    throw new CorruptShardError(
      `checkpoint ${key} in ${store.location} is unreadable: delete it to re-plan from --from`,
      {
        cause: err,
      },
    );
  }
}

export async function readCheckpoint(store: ObjectStore, source: string): Promise<Checkpoint | undefined> {
  const key = checkpointKey(source);
  const stored = await store.getVersioned(key);
  return stored === undefined ? undefined : parseCheckpoint(store, key, stored);
}

export interface CommitInput {
  readonly source: string;
  readonly planned: readonly TimeWindow[];
  readonly committed: readonly TimeWindow[];
  readonly nowMs: number;
}

export async function commitCheckpoint(store: ObjectStore, input: CommitInput): Promise<Checkpoint | undefined> {
  const key = checkpointKey(input.source);
  for (let attempt = 1; ; attempt++) {
    const stored = await store.getVersioned(key);
    const previous = stored === undefined ? undefined : parseCheckpoint(store, key, stored);
    const endMs = advanceCheckpoint(previous?.end_ms, input.committed, input.planned);
    if (endMs === undefined || endMs === previous?.end_ms) return previous;
    const checkpoint: Checkpoint = {
      source: input.source,
      end_ms: endMs,
      updated_at: new Date(input.nowMs).toISOString(),
    };
    const bytes = new TextEncoder().encode(JSON.stringify(checkpoint, null, 2) + '\n');
    try {
      await store.putIfMatch(key, bytes, stored?.etag);
      return checkpoint;
    } catch (err) {
      // Another run wrote the checkpoint since it was read: advance from its value instead.
      if (!(err instanceof PreconditionFailedError) || attempt >= COMMIT_ATTEMPTS) throw err;
    }
  }
}
