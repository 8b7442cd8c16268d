import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DirectoryStore } from '../../../../lambdas/adapters/dir-store';
import { readCheckpoint } from '../../../../lambdas/core/backup/commit';
import { compactWindow, listPendingWindows } from '../../../../lambdas/core/federate/compact';
import { runCapture } from '../../../../lambdas/core/federate/capture';
import { listAllManifests } from '../../../../lambdas/core/manifest';
import { decodeShard } from '../../../../lambdas/core/format';
import { fetchVerified } from '../../../../lambdas/core/restore/fetch';
import type { MetricMetadata } from '../../../../lambdas/core/types';
import type { ObjectStore } from '../../../../lambdas/core/ports';
import { manifestKey } from '../../../../lambdas/core/shard';
import { verifyShard } from '../../../../lambdas/core/verify';
import { readShard } from '../../../harness/crash-backup';
import {
  FED_INPUT,
  FED_START,
  fakeClock,
  fakeScraper,
  federateText,
  runFederate,
  tickSamples,
} from '../../../harness/crash-federate';
import { RecordingStore } from '../../../harness/recording-store';

let dir: string;
let store: DirectoryStore;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'promvault-federate-'));
  store = new DirectoryStore(dir);
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function keys(prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for await (const info of store.list(prefix)) out.push(info.key);
  return out;
}

async function storedSamples(s: ObjectStore = store): Promise<string[]> {
  const lines: string[] = [];
  for (const m of await listAllManifests(s)) {
    expect((await verifyShard(s, m)).verdict).toBe('ok');
    lines.push(...(await readShard(s, m)));
  }
  return lines.sort();
}

const ticks = (n: number, from = FED_START) => Array.from({ length: n }, (_, i) => from + i * FED_INPUT.intervalMs);

describe('runCapture', () => {
  test('commits a snapshot per fetch, compacts a window once a fetch passed its end, keeps the open window in snapshots', async () => {
    const report = await runFederate(store, 'capture');
    expect(report).toMatchObject({
      snapshots: 5,
      fetches: 5,
      failed_fetches: 0,
      series: 3,
      samples: 15,
      compacted_shards: 1,
      pending_windows: 1,
    });
    expect(report.metadata).toEqual([
      { metricFamilyName: 'crash_metric', type: 'gauge', help: 'a "help" with \\ and \n', unit: '' },
    ]);
    // Only the compacted window is visible to readers, with exactly the samples of its three snapshots.
    const manifests = await listAllManifests(store);
    expect(manifests.map((m) => [m.start_ms, m.end_ms, m.complete])).toEqual([
      [FED_START - 5000, FED_START + 25_000, true],
    ]);
    expect(await storedSamples()).toEqual(ticks(3).flatMap(tickSamples).sort());
    // The # TYPE/# HELP of the snapshots reach the compacted shard.
    expect(manifests[0]!.metadata_families).toBe(1);
    const stored: MetricMetadata[] = [];
    const onMetadata = (entries: readonly MetricMetadata[]) => stored.push(...entries);
    for await (const piece of decodeShard(await fetchVerified(store, manifests[0]!), { onMetadata })) void piece;
    expect(stored).toEqual(report.metadata);
    expect((await readCheckpoint(store, 'fedcrash'))?.end_ms).toBe(FED_START + 25_000);
    // The first window's snapshots are gone; the open window's two wait.
    const snapshots = await keys('snapshots/');
    expect(snapshots.filter((k) => k.endsWith('.json'))).toHaveLength(2);
    expect(snapshots.every((k) => k.includes('2026-01-01T120030000Z_30000_all/'))).toBe(true);

    // A later run compacts the rest: every captured sample, once.
    const later = await runFederate(store, 'compact');
    expect(later).toMatchObject({ snapshots: 0, compacted_shards: 1, pending_windows: 0 });
    expect(await storedSamples()).toEqual(ticks(5).flatMap(tickSamples).sort());
    expect(await keys('snapshots/')).toEqual([]);
    expect((await readCheckpoint(store, 'fedcrash'))?.end_ms).toBe(FED_START + 55_000);
  });

  test('a sample seen by two snapshots (same series, same timestamp) is stored once', async () => {
    const clock = fakeClock(FED_START);
    // The source's samples are stamped with the scrape, every 20 s: half the fetches repeat one.
    const scrapedAt = (now: number) => FED_START + Math.floor((now - FED_START) / 20_000) * 20_000;
    const report = await runCapture(
      {
        scraper: fakeScraper(clock, (now) => federateText(scrapedAt(now))),
        store,
        nowMs: clock.now,
        sleep: clock.sleep,
      },
      { ...FED_INPUT, durationMs: 40_000 },
    );
    expect(report).toMatchObject({ fetches: 4, snapshots: 2, samples: 6 });
    await runFederate(store, 'compact');
    expect(await storedSamples()).toEqual([FED_START, FED_START + 20_000].flatMap(tickSamples).sort());
  });

  test('a snapshot of a window compacted already is merged into its shard by the next compaction', async () => {
    await runFederate(store, 'capture');
    await runFederate(store, 'compact');
    const first = await listAllManifests(store);
    // A late answer: a sample inside the first window that no earlier snapshot had.
    const late = FED_START + 1;
    const clock = fakeClock(FED_START + 700_000);
    await runCapture(
      { scraper: fakeScraper(clock, () => federateText(late)), store, nowMs: clock.now, sleep: clock.sleep },
      { ...FED_INPUT, durationMs: 1 },
    );
    const after = await listAllManifests(store);
    expect(after).toHaveLength(first.length);
    expect(after[0]!.samples).toBe(first[0]!.samples + 3);
    expect(after[0]!.object_key).not.toBe(first[0]!.object_key);
    expect(await storedSamples()).toEqual([...ticks(5), late].flatMap(tickSamples).sort());
    // The superseded object is deleted; nothing waits in snapshots/.
    expect(await keys('shards/')).toHaveLength(2);
    expect(await keys('snapshots/')).toEqual([]);
  });

  test('a failed or unreadable fetch is counted and named, the capture goes on', async () => {
    const clock = fakeClock(FED_START);
    let n = 0;
    const report = await runCapture(
      {
        scraper: {
          endpoint: 'fake:/federate',
          scrape: async () => {
            n++;
            if (n === 2) throw new Error('connection reset');
            if (n === 3) return 'not { exposition';
            return federateText(clock.now());
          },
        },
        store,
        nowMs: clock.now,
        sleep: clock.sleep,
      },
      FED_INPUT,
    );
    expect(report).toMatchObject({ fetches: 5, failed_fetches: 2, snapshots: 3, samples: 9 });
    expect(report.errors[0]).toMatch(
      /snapshot at 2026-01-01T12:00:15(\.000)?Z of fake:\/federate failed: connection reset/,
    );
    expect(report.errors[1]).toMatch(/is unreadable: exposition text line 1/);
  });

  test('a stop (SIGINT, SIGTERM) during a fetch ends the capture without counting a failed fetch, and compacts what is due', async () => {
    const clock = fakeClock(FED_START);
    const stop = new AbortController();
    let n = 0;
    const report = await runCapture(
      {
        scraper: {
          endpoint: 'fake:/federate',
          scrape: async (_selector, signal) => {
            if (++n < 5) return federateText(clock.now());
            stop.abort(new Error('stopped by a signal'));
            throw signal!.reason;
          },
        },
        store,
        nowMs: clock.now,
        sleep: clock.sleep,
        signal: stop.signal,
      },
      { ...FED_INPUT, durationMs: undefined },
    );
    expect(report).toMatchObject({ fetches: 4, failed_fetches: 0, snapshots: 4, compacted_shards: 1, errors: [] });
  });
});

describe('compactWindow', () => {
  test('is unchanged, commits nothing and deletes the snapshots when the shard already holds every sample (a kill after the commit)', async () => {
    await runFederate(store, 'capture');
    const [ref] = await listPendingWindows(store, 'fedcrash');
    // Compact the open window, then put its snapshots back as a kill before their delete would leave them.
    const saved = new Map<string, Uint8Array>();
    for (const key of await keys('snapshots/')) {
      const chunks: Uint8Array[] = [];
      for await (const c of store.get(key)) chunks.push(c);
      saved.set(key, Buffer.concat(chunks));
    }
    const clock = fakeClock(FED_START + 600_000);
    const first = await compactWindow(store, ref!, { nowMs: clock.now, endpoint: 'fake' });
    expect(first.status).toBe('compacted');
    for (const [key, bytes] of saved)
      await store.put(
        key,
        (async function* () {
          yield bytes;
        })(),
      );
    const recording = new RecordingStore(store);
    const again = await compactWindow(recording, ref!, { nowMs: clock.now, endpoint: 'fake' });
    expect(again.status).toBe('unchanged');
    expect(recording.calls.filter((c) => c.op === 'put')).toEqual([]);
    expect(await keys('snapshots/')).toEqual([]);
    expect((await listAllManifests(store))[1]!.object_key).toBe(first.manifest!.object_key);
  });

  test('loses the race to a compaction that committed meanwhile: commits nothing and deletes only the object it wrote', async () => {
    await runFederate(store, 'capture');
    const clock = fakeClock(FED_START + 600_000);
    const [, ref] = await listPendingWindows(store, 'fedcrash').then((r) => [undefined, r[0]!] as const);
    // Another run compacts the window between this one's read of the manifest and its conditional write.
    let interfered = false;
    const racing = new Proxy(store, {
      get(target, prop) {
        if (prop === 'putIfMatch') {
          return async (key: string, bytes: Uint8Array, etag: string | undefined) => {
            if (!interfered && key.startsWith('manifests/')) {
              interfered = true;
              expect((await compactWindow(target, ref, { nowMs: clock.now, endpoint: 'other' })).status).toBe(
                'compacted',
              );
            }
            return target.putIfMatch(key, bytes, etag);
          };
        }
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const raced = await compactWindow(racing, ref, { nowMs: clock.now, endpoint: 'fake' });
    expect(raced.status).toBe('raced');
    const manifests = await listAllManifests(store);
    expect(manifests.map((m) => m.pulled_from)).toEqual(['fake:/federate', 'other']);
    // The loser's object is gone: only the two committed objects remain.
    expect(await keys('shards/')).toEqual(manifests.map((m) => m.object_key).sort());
    expect(await storedSamples()).toEqual(ticks(5).flatMap(tickSamples).sort());
    expect(await keys('snapshots/')).toEqual([]);
    expect(await store.head(manifestKey(ref))).toBeDefined();
  });
});
