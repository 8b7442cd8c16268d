import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DirectoryStore } from '../../../lambdas/adapters/dir-store';
import { CorruptShardError, InputError, ObjectNotFoundError } from '../../../lambdas/core/errors';
import {
  listAllManifests,
  listManifests,
  listSources,
  parseManifest,
  readManifest,
  readManifestIfPresent,
  requireSources,
  scanAllManifests,
  scanManifests,
  serializeManifest,
} from '../../../lambdas/core/manifest';
import {
  LIST_BY_MONTH_AFTER_DAYS,
  manifestKey,
  objectKey,
  type ShardManifest,
  type ShardRef,
} from '../../../lambdas/core/shard';

const H = 3_600_000;
const D = 24 * H;
const T0 = Date.UTC(2026, 10, 21);

function ref(source: string, startMs: number, lengthMs = H, selector = ''): ShardRef {
  return { source, window: { startMs, endMs: startMs + lengthMs }, selector };
}

function manifestOf(r: ShardRef, overrides: Partial<Record<keyof ShardManifest, unknown>> = {}): ShardManifest {
  return {
    format_version: 1,
    source: r.source,
    start_ms: r.window.startMs,
    end_ms: r.window.endMs,
    selector: r.selector,
    object_key: objectKey(r),
    series: 2,
    samples: 10,
    min_ts: r.window.startMs,
    max_ts: r.window.endMs - 1,
    raw_bytes: 400,
    stored_bytes: 120,
    codec: 'pvs1+zstd',
    sha256: 'a'.repeat(64),
    complete: true,
    created_at: '2026-11-22T00:00:05.000Z',
    pulled_from: 'http://prometheus:9090/api/v1/read',
    ...overrides,
  } as ShardManifest;
}

const enc = (text: string) => new TextEncoder().encode(text);
const bytesOf = (o: unknown) => enc(JSON.stringify(o));

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

describe('serializeManifest / parseManifest', () => {
  const m = manifestOf(ref('prod', T0));

  test('round trip', () => {
    expect(parseManifest(serializeManifest(m), 'k')).toEqual(m);
  });

  test('stable bytes: fixed key order, 2-space indent, trailing newline, whatever the input order', () => {
    const shuffled = Object.fromEntries(Object.entries(m).reverse()) as unknown as ShardManifest;
    const text = new TextDecoder().decode(serializeManifest(shuffled));
    expect(text).toBe(new TextDecoder().decode(serializeManifest(m)));
    expect(text.endsWith('}\n')).toBe(true);
    expect(text.split('\n')[1]).toBe('  "format_version": 1,');
    expect(Object.keys(JSON.parse(text))).toEqual([
      'format_version',
      'source',
      'start_ms',
      'end_ms',
      'selector',
      'object_key',
      'series',
      'samples',
      'min_ts',
      'max_ts',
      'raw_bytes',
      'stored_bytes',
      'codec',
      'sha256',
      'complete',
      'created_at',
      'pulled_from',
    ]);
  });

  test('an empty shard has null min_ts/max_ts', () => {
    const empty = manifestOf(ref('prod', T0), { series: 0, samples: 0, min_ts: null, max_ts: null });
    expect(parseManifest(serializeManifest(empty), 'k')).toEqual(empty);
  });

  test('unknown extra fields are dropped, not fatal', () => {
    expect(parseManifest(bytesOf({ ...m, future_field: 1 }), 'k')).toEqual(m);
  });

  const KEY = 'manifests/prod/2026/11/21/x.json';
  test.each<[string, Uint8Array, string]>([
    ['not UTF-8', new Uint8Array([0xff, 0xfe, 0x00]), 'not UTF-8'],
    ['not JSON', enc('{"format_version": 1,'), 'not JSON'],
    ['a JSON array', enc('[]'), 'not a JSON object'],
    ['JSON null', enc('null'), 'not a JSON object'],
    ['missing field', bytesOf({ ...m, sha256: undefined }), 'field sha256 is missing'],
    ['string number', bytesOf({ ...m, start_ms: '1' }), 'field start_ms is "1", expected an integer'],
    ['fractional number', bytesOf({ ...m, samples: 1.5 }), 'field samples is 1.5'],
    ['negative count', bytesOf({ ...m, series: -1 }), 'field series is -1, expected a non-negative integer'],
    ['negative size', bytesOf({ ...m, stored_bytes: -5 }), 'field stored_bytes'],
    ['format version 0', bytesOf({ ...m, format_version: 0 }), 'field format_version'],
    ['newer format version', bytesOf({ ...m, format_version: 2 }), 'upgrade promvault'],
    ['bad source', bytesOf({ ...m, source: '../etc' }), 'field source'],
    ['empty window', bytesOf({ ...m, end_ms: m.start_ms }), 'field end_ms'],
    ['selector not a string', bytesOf({ ...m, selector: null }), 'field selector is null'],
    ['empty object key', bytesOf({ ...m, object_key: '' }), 'field object_key is "", expected a non-empty string'],
    ['min_ts without samples', bytesOf({ ...m, samples: 0, series: 0 }), 'must be null when samples is 0'],
    ['samples without min_ts', bytesOf({ ...m, min_ts: null }), 'must be integers when samples is 10'],
    ['min after max', bytesOf({ ...m, min_ts: m.end_ms - 1, max_ts: m.start_ms }), 'field min_ts'],
    ['sample outside the window', bytesOf({ ...m, max_ts: m.end_ms }), 'outside the window'],
    ['samples without series', bytesOf({ ...m, series: 0 }), 'field series is 0'],
    ['bad sha256', bytesOf({ ...m, sha256: 'ABC' }), 'field sha256 "ABC" is not 64 lowercase hex digits'],
    ['complete not boolean', bytesOf({ ...m, complete: 'yes' }), 'field complete is "yes", expected true or false'],
    ['bad created_at', bytesOf({ ...m, created_at: 'yesterday' }), 'field created_at'],
    ['codec missing', bytesOf({ ...m, codec: undefined }), 'field codec is missing'],
    ['pulled_from not a string', bytesOf({ ...m, pulled_from: 5 }), 'field pulled_from is 5'],
  ])('%s is a CorruptShardError naming the key and the field', (_name, bytes, detail) => {
    let caught: unknown;
    try {
      parseManifest(bytes, KEY);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CorruptShardError);
    expect((caught as Error).message).toContain(`manifest ${KEY} is corrupt: `);
    expect((caught as Error).message).toContain(detail);
  });
});

describe('manifest store helpers', () => {
  let dir: string;
  let store: DirectoryStore;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'promvault-manifest-'));
    store = new DirectoryStore(dir);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function commit(m: ShardManifest): Promise<void> {
    const r = { source: m.source, window: { startMs: m.start_ms, endMs: m.end_ms }, selector: m.selector };
    await store.put(manifestKey(r), once(serializeManifest(m)));
  }

  test('readManifest, readManifestIfPresent', async () => {
    const r = ref('prod', T0);
    await expect(readManifest(store, manifestKey(r))).rejects.toBeInstanceOf(ObjectNotFoundError);
    expect(await readManifestIfPresent(store, manifestKey(r))).toBeUndefined();
    await commit(manifestOf(r));
    expect(await readManifest(store, manifestKey(r))).toEqual(manifestOf(r));
    expect(await readManifestIfPresent(store, manifestKey(r))).toEqual(manifestOf(r));
  });

  test('a corrupt manifest is an error, not absent', async () => {
    const key = manifestKey(ref('prod', T0));
    await store.put(key, once(enc('{oops')));
    await expect(readManifestIfPresent(store, key)).rejects.toThrow(`manifest ${key} is corrupt`);
  });

  test('listManifests returns the manifests intersecting [from, to), sorted by start', async () => {
    // Hourly shards over three days, committed out of order, plus another source and a daily shard.
    const starts = Array.from({ length: 72 }, (_, i) => T0 - D + i * H).reverse();
    for (const s of starts) await commit(manifestOf(ref('prod', s)));
    await commit(manifestOf(ref('other', T0)));
    await commit(manifestOf(ref('prod', T0, D, '{job="x"}')));
    await store.put('manifests/prod/2026/11/21/README.txt', once(enc('not a manifest')));

    const got = await listManifests(store, 'prod', T0 + 90 * 60_000, T0 + 3 * H, D);
    expect(got.map((m) => [(m.start_ms - T0) / H, (m.end_ms - T0) / H, m.selector])).toEqual([
      [0, 24, '{job="x"}'],
      [1, 2, ''],
      [2, 3, ''],
    ]);

    // A range crossing midnight finds shards from both days; the boundaries are half-open.
    const cross = await listManifests(store, 'prod', T0 - H, T0 + H, H);
    expect(cross.map((m) => [(m.start_ms - T0) / H, m.selector])).toEqual([
      [-1, ''],
      [0, ''],
      [0, '{job="x"}'],
    ]);

    expect(await listManifests(store, 'prod', T0 + 10 * D, T0 + 11 * D, D)).toEqual([]);
  });

  test('listManifests lists only the day prefixes of the range', async () => {
    await commit(manifestOf(ref('prod', T0)));
    const seen: string[] = [];
    const spy: DirectoryStore = Object.create(store);
    spy.list = (prefix: string) => {
      seen.push(prefix);
      return store.list(prefix);
    };
    await listManifests(spy, 'prod', T0 + H, T0 + 2 * H, H);
    expect(seen).toEqual(['manifests/prod/2026/11/21/']);
    seen.length = 0;
    await listManifests(spy, 'prod', T0, T0 + H, 6 * H);
    expect(seen).toEqual(['manifests/prod/2026/11/20/', 'manifests/prod/2026/11/21/']);
  });

  test('listManifests lists a long range a month at a time, and finds the same manifests', async () => {
    for (const s of [T0 - 40 * D, T0 - H, T0, T0 + 3 * D]) await commit(manifestOf(ref('prod', s)));
    const seen: string[] = [];
    const spy: DirectoryStore = Object.create(store);
    spy.list = (prefix: string) => {
      seen.push(prefix);
      return store.list(prefix);
    };
    const from = T0 - 5 * 365 * D;
    const got = await listManifests(spy, 'prod', from, T0 + 30 * D, H);
    expect(got.map((m) => (m.start_ms - T0) / H)).toEqual([-40 * 24, -1, 0, 3 * 24]);
    // Five years in about 61 monthly LISTs, where day prefixes would take over 1,800.
    expect(seen.length).toBeGreaterThanOrEqual(60);
    expect(seen.length).toBeLessThanOrEqual(62);
    expect(seen).toContain('manifests/prod/2026/11/');
    expect(seen.every((p) => /^manifests\/prod\/\d{4}\/\d{2}\/$/.test(p))).toBe(true);
    // Up to the threshold, the range is still listed a day at a time.
    seen.length = 0;
    await listManifests(spy, 'prod', T0, T0 + (LIST_BY_MONTH_AFTER_DAYS - 1) * D, H);
    expect(seen).toHaveLength(LIST_BY_MONTH_AFTER_DAYS);
  });

  test('listManifests rejects a manifest that names another source', async () => {
    const r = ref('prod', T0);
    await store.put(manifestKey(r), once(serializeManifest(manifestOf(ref('other', T0)))));
    await expect(listManifests(store, 'prod', T0, T0 + H, H)).rejects.toThrow('names source "other", not "prod"');
  });

  test('scanManifests and scanAllManifests report a manifest that does not parse, by key, and read the rest', async () => {
    const bad = ref('prod', T0 + H);
    await commit(manifestOf(ref('prod', T0)));
    await commit(manifestOf(ref('prod', T0 + 2 * H)));
    const text = new TextDecoder().decode(serializeManifest(manifestOf(bad)));
    await store.put(manifestKey(bad), once(enc(text.replace(',\n', ',,\n'))));
    await store.put(manifestKey(ref('prod', T0 + 3 * H)), once(serializeManifest(manifestOf(ref('other', T0)))));

    const scan = await scanManifests(store, 'prod', T0, T0 + 4 * H, H);
    expect(scan.manifests.map((m) => m.start_ms - T0)).toEqual([0, 2 * H]);
    expect(scan.unreadable.map((u) => u.key)).toEqual([manifestKey(bad), manifestKey(ref('prod', T0 + 3 * H))]);
    expect(scan.unreadable[0]!.error).toMatch(`manifest ${manifestKey(bad)} is corrupt: it is not JSON`);
    expect(scan.unreadable[1]!.error).toMatch('names source "other", not "prod"');

    const all = await scanAllManifests(store);
    expect(all.manifests).toHaveLength(3);
    expect(all.unreadable.map((u) => u.key)).toEqual([manifestKey(bad)]);
    await expect(listAllManifests(store)).rejects.toBeInstanceOf(CorruptShardError);
  });

  test('requireSources: a store without manifests is bad input that says what it holds', async () => {
    await expect(requireSources(store)).rejects.toThrow(
      `store ${dir} holds no promvault backups (no manifests/ under it; it is empty)`,
    );
    await store.put('photos/cat.jpg', once(enc('x')));
    await store.put('notes.txt', once(enc('x')));
    const err = await requireSources(store).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/at the top level it holds "notes.txt", "photos\/"\): check --store/);
    await commit(manifestOf(ref('prod', T0)));
    expect(await requireSources(store, ['prod'])).toEqual(['prod']);
    await expect(requireSources(store, ['prd'])).rejects.toThrow('source "prd" has no backups in');
  });

  test('listSources and listAllManifests', async () => {
    expect(await listSources(store)).toEqual([]);
    await commit(manifestOf(ref('prod', T0)));
    await commit(manifestOf(ref('prod', T0 - D)));
    await commit(manifestOf(ref('a-b', T0)));
    await commit(manifestOf(ref('a', T0 + H)));
    await store.put('manifests/stray.json', once(enc('{}')));
    await store.put('manifests/prod/notes.json', once(enc('{}')));
    await store.put('checkpoints/zzz.json', once(enc('{}')));
    expect(await listSources(store)).toEqual(['a', 'a-b', 'prod']);

    const all = await listAllManifests(store);
    expect(all.map((m) => [m.source, m.start_ms - T0])).toEqual([
      ['a', H],
      ['a-b', 0],
      ['prod', -D],
      ['prod', 0],
    ]);
    expect((await listAllManifests(store, 'prod')).map((m) => m.start_ms - T0)).toEqual([-D, 0]);
  });
});
