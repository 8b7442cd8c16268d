/**
 * commit: advance the source's checkpoint over the contiguous run of committed, complete shards.
 * A gap (a failed or still-open shard) stops it, so the next scheduled run retries from there.
 */
import type { ObjectStore } from '../ports';
import { checkpointKey } from '../shard';
import { CorruptShardError } from '../errors';
import { advanceCheckpoint } from './checkpoint';
import type { TimeWindow } from '../types';

export interface Checkpoint {
  readonly source: string;
  /** Everything before this instant is committed. */
  readonly end_ms: number;
  readonly updated_at: string;
}

export async function readCheckpoint(store: ObjectStore, source: string): Promise<Checkpoint | undefined> {
  const key = checkpointKey(source);
  if (!(await store.head(key))) return undefined;
  const chunks: Uint8Array[] = [];
  for await (const c of store.get(key)) chunks.push(c);
  try {
    const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Checkpoint;
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

export interface CommitInput {
  readonly source: string;
  readonly planned: readonly TimeWindow[];
  readonly committed: readonly TimeWindow[];
  readonly nowMs: number;
}

export async function commitCheckpoint(store: ObjectStore, input: CommitInput): Promise<Checkpoint | undefined> {
  const previous = await readCheckpoint(store, input.source);
  const endMs = advanceCheckpoint(previous?.end_ms, input.committed, input.planned);
  if (endMs === undefined || endMs === previous?.end_ms) return previous;
  const checkpoint: Checkpoint = {
    source: input.source,
    end_ms: endMs,
    updated_at: new Date(input.nowMs).toISOString(),
  };
  const bytes = new TextEncoder().encode(JSON.stringify(checkpoint, null, 2) + '\n');
  await store.put(
    checkpointKey(input.source),
    (async function* () {
      yield bytes;
    })(),
  );
  return checkpoint;
}
