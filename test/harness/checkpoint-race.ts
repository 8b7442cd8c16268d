/**
 * Two runs of one source committing the checkpoint at once, with the interleaving fixed: the
 * `late` run reads the checkpoint, then waits (at its write) until the `early` run has
 * committed. Shared by the directory-store unit test and the S3 integration test.
 */
import { commitCheckpoint, readCheckpoint } from '../../lambdas/core/backup/commit';
import type { ObjectStore } from '../../lambdas/core/ports';
import type { TimeWindow } from '../../lambdas/core/types';

export const RACE_H = 3_600_000;
export const RACE_T0 = Date.UTC(2026, 10, 21);

/** Windows [T0 + a*H, T0 + b*H) from [a, b] pairs. */
export function hours(...pairs: [number, number][]): TimeWindow[] {
  return pairs.map(([a, b]) => ({ startMs: RACE_T0 + a * RACE_H, endMs: RACE_T0 + b * RACE_H }));
}
export const hourOf = (ms: number | undefined) => (ms === undefined ? undefined : (ms - RACE_T0) / RACE_H);

/** `store`, whose writes (put, putIfMatch) wait for `gate`. */
export function gateWrites(store: ObjectStore, gate: Promise<void>): ObjectStore {
  return {
    location: store.location,
    get: (k) => store.get(k),
    head: (k) => store.head(k),
    list: (p, o) => store.list(p, o),
    delete: (k) => store.delete(k),
    getVersioned: (k) => store.getVersioned(k),
    check: () => store.check(),
    checkReadable: () => store.checkReadable(),
    put: async (k, b) => {
      await gate;
      return store.put(k, b);
    },
    putIfMatch: async (k, b, e) => {
      await gate;
      return store.putIfMatch(k, b, e);
    },
  };
}

export interface RaceRun {
  readonly planned: readonly TimeWindow[];
  readonly committed: readonly TimeWindow[];
}

/**
 * Commits `late` and `early` concurrently, `late` reading first and writing last. Resolves to the
 * checkpoint hour each run returned and the stored one.
 */
export async function raceCommits(
  store: ObjectStore,
  source: string,
  early: RaceRun,
  late: RaceRun,
): Promise<{ early: number | undefined; late: number | undefined; stored: number | undefined }> {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let lateRead!: () => void;
  const lateHasRead = new Promise<void>((resolve) => (lateRead = resolve));
  const lateStore = gateWrites(
    {
      ...gateWrites(store, Promise.resolve()),
      getVersioned: async (k) => {
        const v = await store.getVersioned(k);
        lateRead();
        return v;
      },
      // A missing object is read by its head alone.
      head: async (k) => {
        const info = await store.head(k);
        if (info === undefined) lateRead();
        return info;
      },
      get: (k) =>
        (async function* () {
          yield* store.get(k);
          lateRead();
        })(),
    },
    gate,
  );
  const nowMs = RACE_T0 + 100 * RACE_H;
  const latePromise = commitCheckpoint(lateStore, { source, ...late, nowMs });
  await lateHasRead;
  const earlyResult = await commitCheckpoint(store, { source, ...early, nowMs });
  open();
  const lateResult = await latePromise;
  return {
    early: hourOf(earlyResult?.end_ms),
    late: hourOf(lateResult?.end_ms),
    stored: hourOf((await readCheckpoint(store, source))?.end_ms),
  };
}

/** Puts a checkpoint at `hour` (or none) the ordinary way. */
export async function seedCheckpoint(store: ObjectStore, source: string, hour: number): Promise<void> {
  const w = hours([hour - 1, hour]);
  await commitCheckpoint(store, { source, planned: w, committed: w, nowMs: RACE_T0 });
}
