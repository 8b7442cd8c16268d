import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DirectoryStore } from '../../../../lambdas/adapters/dir-store';
import { backupShard } from '../../../../lambdas/core/backup/shard';
import { readManifest, serializeManifest } from '../../../../lambdas/core/manifest';
import type { ObjectStore, PrometheusReader } from '../../../../lambdas/core/ports';
import { SourceUnavailableError } from '../../../../lambdas/core/errors';
import { decodeShard } from '../../../../lambdas/core/format';
import { fetchVerified } from '../../../../lambdas/core/restore/fetch';
import type { MetricMetadata } from '../../../../lambdas/core/types';
import {
  isObjectKeyOf,
  manifestKey,
  objectKey,
  rerunObjectKey,
  type ShardManifest,
  type ShardRef,
} from '../../../../lambdas/core/shard';
import {
  CRASH_SHARD,
  generatedReader,
  generatedSeries,
  readShard,
  sampleLines,
  type DataVariant,
} from '../../../harness/crash-backup';
import { RecordingStore } from '../../../harness/recording-store';

const REF = CRASH_SHARD;
/** A fixed clock after the window: every run pulls at the same millisecond. */
const NOW = REF.window.endMs + 60_000;

let dir: string;
let store: DirectoryStore;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'promvault-shard-'));
  store = new DirectoryStore(dir);
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const run = (s: ObjectStore, variant: DataVariant, force = false, nowMs = NOW) =>
  backupShard({ reader: generatedReader(variant), store: s, nowMs: () => nowMs }, REF, { force });

async function keys(): Promise<string[]> {
  const out: string[] = [];
  for await (const info of store.list('')) out.push(info.key);
  return out;
}

describe('backupShard', () => {
  test('a first backup writes the object under the key of earlier versions, then its manifest', async () => {
    const recording = new RecordingStore(store);
    const result = await run(recording, 'old');
    expect(result.status).toBe('committed');
    expect(result.manifest.object_key).toBe('shards/crash/2026/01/01/2026-01-01T120000000Z_60000_all.v1.pvs');
    expect(recording.calls.map((c) => `${c.op} ${c.key}`)).toEqual([
      `get ${manifestKey(REF)}`,
      `put ${objectKey(REF)}`,
      `put ${manifestKey(REF)}`,
    ]);
    expect(manifestKey(REF)).toBe('manifests/crash/2026/01/01/2026-01-01T120000000Z_60000_all.v1.json');
  });

  test('a forced re-run writes a new object beside the committed one, switches the manifest, then deletes the old', async () => {
    await run(store, 'old');
    const recording = new RecordingStore(store);
    const result = await run(recording, 'new', true);
    const newKey = result.manifest.object_key;
    expect(newKey).not.toBe(objectKey(REF));
    expect(isObjectKeyOf(REF, newKey)).toBe(true);
    expect(recording.calls.map((c) => `${c.op} ${c.key}`)).toEqual([
      `get ${manifestKey(REF)}`,
      `put ${newKey}`,
      `put ${manifestKey(REF)}`,
      `delete ${objectKey(REF)}`,
    ]);
    expect(await keys()).toEqual([manifestKey(REF), newKey].sort());
    expect(await readManifest(store, manifestKey(REF))).toEqual(result.manifest);
    expect((await readShard(store, result.manifest)).length).toBe(5 * 60);
  });

  test('re-runs in the same millisecond never write over the object the manifest names', async () => {
    await run(store, 'old');
    const seen = new Set<string>([objectKey(REF)]);
    for (const variant of ['new', 'old', 'new'] as const) {
      const result = await run(store, variant, true);
      expect(seen.has(result.manifest.object_key)).toBe(false);
      seen.add(result.manifest.object_key);
      expect(await keys()).toEqual([manifestKey(REF), result.manifest.object_key].sort());
    }
  });

  test('an incomplete shard is pulled again without --force, the same way', async () => {
    const first = await run(store, 'old', false, REF.window.startMs + 1);
    expect(first.manifest.complete).toBe(false);
    const again = await run(store, 'new', false);
    expect(again).toMatchObject({ status: 'committed', manifest: { complete: true } });
    expect(await keys()).toEqual([manifestKey(REF), again.manifest.object_key].sort());
    expect((await run(store, 'old')).status).toBe('skipped');
  });

  test('a failed delete of the superseded object leaves the new backup committed', async () => {
    await run(store, 'old');
    const failingDelete: ObjectStore = Object.assign(Object.create(store) as DirectoryStore, {
      delete: () => Promise.reject(new Error('AccessDenied')),
    });
    const result = await run(failingDelete, 'new', true);
    expect(result.status).toBe('committed');
    expect((await readShard(store, await readManifest(store, manifestKey(REF)))).length).toBe(5 * 60);
    // The leftover is no backup: no manifest names it.
    expect(await keys()).toEqual([manifestKey(REF), objectKey(REF), result.manifest.object_key].sort());
  });

  test('never deletes an object that is not one of this shard, whatever the old manifest names', async () => {
    const first = await run(store, 'old');
    const foreign = 'checkpoints/crash.json';
    await store.put(
      foreign,
      (async function* () {
        yield new TextEncoder().encode('{}');
      })(),
    );
    await store.put(
      manifestKey(REF),
      (async function* () {
        yield serializeManifest({ ...first.manifest, object_key: foreign });
      })(),
    );
    await run(store, 'new', true);
    expect(await store.head(foreign)).toBeDefined();
  });
});

describe('object keys', () => {
  const other: ShardRef = { ...REF, selector: '{job="x"}' };
  test.each<[string, boolean]>([
    [objectKey(REF), true],
    [rerunObjectKey(REF, 'mj3k2x1-0a1b2c3d'), true],
    [objectKey(REF).replace('.v1.pvs', '.abc.def.v1.pvs'), false],
    [objectKey(REF).replace('.v1.pvs', '.ABC.v1.pvs'), false],
    [objectKey(REF).replace('.v1.pvs', '..v1.pvs'), false],
    [objectKey(other), false],
    [rerunObjectKey(other, 'abc'), false],
    [manifestKey(REF), false],
  ])('isObjectKeyOf(%s) is %s', (key, expected) => {
    expect(isObjectKeyOf(REF, key)).toBe(expected);
  });

  test('a re-run key keeps the version suffix, and its generation must be key-safe', () => {
    expect(rerunObjectKey(REF, 'abc')).toBe('shards/crash/2026/01/01/2026-01-01T120000000Z_60000_all.abc.v1.pvs');
    expect(() => rerunObjectKey(REF, '../x')).toThrow(/generation/);
  });
});

describe('backupShard: metric metadata', () => {
  const crashOld = { metricFamilyName: 'crash_old', type: 'gauge', help: 'Old data.', unit: '' } as const;
  const elsewhere = { metricFamilyName: 'not_in_shard', type: 'counter', help: 'Other.', unit: '' } as const;
  const withMetadata = (metadata: PrometheusReader['metadata']): PrometheusReader => ({
    ...generatedReader('old'),
    metadata,
  });
  const metadataOf = async (manifest: ShardManifest) => {
    const out: MetricMetadata[] = [];
    for await (const _ of decodeShard(await fetchVerified(store, manifest), { onMetadata: (m) => out.push(...m) })) {
      // samples: only the metadata matters here
    }
    return out;
  };

  test('the source’s metadata of the families in the shard is stored and counted in the manifest', async () => {
    const reader = withMetadata(async () => [crashOld, elsewhere]);
    const result = await backupShard({ reader, store, nowMs: () => NOW }, REF);
    expect(result.manifest.complete).toBe(true);
    expect(result.manifest.metadata_families).toBe(1);
    expect(result.manifest.metadata_missing).toBeUndefined();
    expect(await metadataOf(result.manifest)).toEqual([crashOld]);
    expect(await readManifest(store, manifestKey(REF))).toEqual(result.manifest);
  });

  test('metadata given by the caller is stored without asking the reader', async () => {
    const reader = withMetadata(async () => {
      throw new Error('must not be asked');
    });
    const result = await backupShard({ reader, store, nowMs: () => NOW }, REF, { metadata: [crashOld] });
    expect(result.manifest.complete).toBe(true);
    expect(await metadataOf(result.manifest)).toEqual([crashOld]);
  });

  test('a source without metadata: samples stored, shard complete, no metadata fields', async () => {
    const result = await backupShard({ reader: withMetadata(async () => undefined), store, nowMs: () => NOW }, REF);
    expect(result.manifest.complete).toBe(true);
    expect(result.manifest).not.toHaveProperty('metadata_families');
    expect(result.manifest).not.toHaveProperty('metadata_missing');
  });

  test('metadata that cannot be read: samples committed, shard incomplete naming why, stored again next run', async () => {
    const failing = withMetadata(async () => {
      throw new SourceUnavailableError('reading metric metadata from http://p/api/v1/metadata failed: HTTP 503');
    });
    const first = await backupShard({ reader: failing, store, nowMs: () => NOW }, REF);
    expect(first.status).toBe('committed');
    expect(first.manifest.complete).toBe(false);
    expect(first.manifest.metadata_missing).toBe(
      'SourceUnavailableError: reading metric metadata from http://p/api/v1/metadata failed: HTTP 503',
    );
    expect(first.manifest.samples).toBeGreaterThan(0);
    expect(await readShard(store, first.manifest)).toEqual(sampleLines(generatedSeries('old', REF.window)));

    const second = await backupShard({ reader: withMetadata(async () => [crashOld]), store, nowMs: () => NOW }, REF);
    expect(second.status).toBe('committed');
    expect(second.manifest.complete).toBe(true);
    expect(second.manifest).not.toHaveProperty('metadata_missing');
    expect(await metadataOf(second.manifest)).toEqual([crashOld]);
  });

  test('an abort while reading metadata fails the shard and writes nothing', async () => {
    const controller = new AbortController();
    const reader = withMetadata(async () => {
      controller.abort(new Error('stopped'));
      throw new Error('aborted');
    });
    await expect(backupShard({ reader, store, nowMs: () => NOW }, REF, { signal: controller.signal })).rejects.toThrow(
      'aborted',
    );
    expect(await keys()).toEqual([]);
  });
});
