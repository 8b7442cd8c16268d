/**
 * Issue 15, concurrency: two runs of one source committing at once never move the checkpoint
 * back or over a gap, and a run that keeps losing the race reports it instead of overwriting.
 * Against the directory store (its putIfMatch: a compare under an O_EXCL lock file).
 */
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DirectoryStore } from '../../../../lambdas/adapters/dir-store';
import { commitCheckpoint, readCheckpoint } from '../../../../lambdas/core/backup/commit';
import { PreconditionFailedError } from '../../../../lambdas/core/errors';
import type { ObjectStore } from '../../../../lambdas/core/ports';
import { checkpointKey } from '../../../../lambdas/core/shard';
import { gateWrites, hourOf, hours, raceCommits, RACE_T0, seedCheckpoint } from '../../../harness/checkpoint-race';

const SOURCE = 'race';
let dir: string;
let store: DirectoryStore;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'promvault-race-'));
  store = new DirectoryStore(dir);
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('two commits of one source at once (directory store)', () => {
  test('a run that read an older checkpoint does not move it back', async () => {
    await seedCheckpoint(store, SOURCE, 2);
    const result = await raceCommits(
      store,
      SOURCE,
      { planned: hours([2, 3], [3, 4]), committed: hours([2, 3], [3, 4]) },
      // The late run's [3, 4) failed: alone it would have written 3.
      { planned: hours([2, 3], [3, 4]), committed: hours([2, 3]) },
    );
    expect(result).toEqual({ early: 4, late: 4, stored: 4 });
  });

  test('a run that read no checkpoint does not move it over a gap', async () => {
    const result = await raceCommits(
      store,
      SOURCE,
      { planned: hours([0, 1], [1, 2]), committed: hours([0, 1], [1, 2]) },
      // Alone (no checkpoint yet) its run would start at 3: [2, 3) was never committed.
      { planned: hours([3, 4]), committed: hours([3, 4]) },
    );
    expect(result).toEqual({ early: 2, late: 2, stored: 2 });
  });

  test('many runs at once: the checkpoint ends at the furthest contiguous end', async () => {
    await seedCheckpoint(store, SOURCE, 1);
    const ends = [2, 7, 3, 9, 4, 5, 8, 6, 3, 2];
    await Promise.all(
      ends.map((end) =>
        commitCheckpoint(store, {
          source: SOURCE,
          planned: hours([1, end]),
          committed: hours([1, end]),
          nowMs: RACE_T0,
        }),
      ),
    );
    expect(hourOf((await readCheckpoint(store, SOURCE))?.end_ms)).toBe(9);
  });

  test('a race lost on every attempt is reported, and the other run’s checkpoint stays', async () => {
    await seedCheckpoint(store, SOURCE, 2);
    const key = checkpointKey(SOURCE);
    let competitor = 0;
    // Before each of this run's writes, another run rewrites the checkpoint (same end, new version).
    const contested: ObjectStore = {
      ...gateWrites(store, Promise.resolve()),
      putIfMatch: async (k, bytes, etag) => {
        const current = (await store.getVersioned(key))!;
        const text = JSON.parse(Buffer.from(current.bytes).toString('utf8')) as Record<string, unknown>;
        const other = JSON.stringify({ ...text, updated_at: new Date(RACE_T0 + ++competitor).toISOString() });
        await store.putIfMatch(key, new TextEncoder().encode(other), current.etag);
        return store.putIfMatch(k, bytes, etag);
      },
    };
    await expect(
      commitCheckpoint(contested, { source: SOURCE, planned: hours([2, 3]), committed: hours([2, 3]), nowMs: RACE_T0 }),
    ).rejects.toBeInstanceOf(PreconditionFailedError);
    expect(competitor).toBeGreaterThan(1);
    const stored = await readCheckpoint(store, SOURCE);
    expect(hourOf(stored?.end_ms)).toBe(2);
    expect(stored?.updated_at).toBe(new Date(RACE_T0 + competitor).toISOString());
  });
});

describe('DirectoryStore.putIfMatch', () => {
  const bytes = (s: string) => new TextEncoder().encode(s);

  test('creates only when absent, replaces only the expected version', async () => {
    const first = await store.putIfMatch('c/x.json', bytes('1'), undefined);
    await expect(store.putIfMatch('c/x.json', bytes('2'), undefined)).rejects.toBeInstanceOf(PreconditionFailedError);
    await expect(store.putIfMatch('c/x.json', bytes('2'), 'not-the-etag')).rejects.toBeInstanceOf(
      PreconditionFailedError,
    );
    const second = await store.putIfMatch('c/x.json', bytes('2'), first.etag);
    expect((await store.getVersioned('c/x.json'))?.etag).toBe(second.etag);
    await expect(store.putIfMatch('c/x.json', bytes('3'), first.etag)).rejects.toBeInstanceOf(PreconditionFailedError);
    expect(Buffer.from((await store.getVersioned('c/x.json'))!.bytes).toString()).toBe('2');
  });

  test('concurrent read-increment-write loops lose no increment', async () => {
    const increment = async () => {
      for (;;) {
        const current = await store.getVersioned('n');
        const n = current === undefined ? 0 : Number(Buffer.from(current.bytes).toString());
        try {
          await store.putIfMatch('n', bytes(String(n + 1)), current?.etag);
          return;
        } catch (err) {
          if (!(err instanceof PreconditionFailedError)) throw err;
        }
      }
    };
    await Promise.all(Array.from({ length: 20 }, increment));
    expect(Buffer.from((await store.getVersioned('n'))!.bytes).toString()).toBe('20');
  });

  test('a lock left by a killed writer is broken once stale, and locks are never listed', async () => {
    await store.putIfMatch('c/x.json', bytes('1'), undefined);
    const lock = path.join(dir, 'c', '.x.json.lock');
    await writeFile(lock, '');
    expect((await collect(store.list('c/'))).map((o) => o.key)).toEqual(['c/x.json']);
    const old = new Date(Date.now() - 60_000);
    await utimes(lock, old, old);
    const current = await store.getVersioned('c/x.json');
    await store.putIfMatch('c/x.json', bytes('2'), current!.etag);
    expect(await readdir(path.join(dir, 'c'))).toEqual(['x.json']);
  });
});

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const i of items) out.push(i);
  return out;
}
