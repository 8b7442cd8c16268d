import { planGarbage, type ManifestRef, type StoredItem } from '../../../lambdas/core/gc-plan';

const NOW = Date.UTC(2026, 11, 3, 12);
const H = 3_600_000;
const DAY = 'src/2026/01/01/2026-01-01T120000000Z_60000_all';
const OTHER = 'src/2026/01/01/2026-01-01T120100000Z_60000_all';
const FIRST = `shards/${DAY}.v1.pvs`;
const RERUN = `shards/${DAY}.m1abc-7f3e.v1.pvs`;
const MANIFEST = `manifests/${DAY}.v1.json`;

const obj = (key: string, ageMs: number | undefined, size = 10): StoredItem => ({
  key,
  size,
  modifiedMs: ageMs === undefined ? undefined : NOW - ageMs,
});
const names = (items: readonly StoredItem[]) => items.map((i) => i.key);

describe('planGarbage', () => {
  test.each<[string, StoredItem[], StoredItem[], ManifestRef[], string[], string[]]>([
    [
      'a committed object is never garbage, however old',
      [obj(FIRST, 100 * H)],
      [],
      [{ manifestKey: MANIFEST, objectKey: FIRST }],
      [],
      [],
    ],
    ['an old object without a manifest is garbage', [obj(FIRST, 2 * H)], [], [], [FIRST], []],
    ['a young object without a manifest is kept (run in progress)', [obj(FIRST, H / 2)], [], [], [], [FIRST]],
    ['an object of unknown age is kept', [obj(FIRST, undefined)], [], [], [], [FIRST]],
    [
      'the superseded object of a re-run goes, the one the manifest names stays',
      [obj(FIRST, 3 * H), obj(RERUN, 2 * H)],
      [],
      [{ manifestKey: MANIFEST, objectKey: RERUN }],
      [FIRST],
      [],
    ],
    [
      'an old temporary file is garbage, a young one is kept',
      [],
      [obj('shards/a/.x.pvs.tmp-0123456789ab', 2 * H), obj('shards/a/.y.pvs.tmp-0123456789ab', 1000)],
      [],
      ['shards/a/.x.pvs.tmp-0123456789ab'],
      ['shards/a/.y.pvs.tmp-0123456789ab'],
    ],
    ['exactly the grace period old is garbage', [obj(FIRST, H)], [], [], [FIRST], []],
    [
      'a manifest of another shard protects nothing here',
      [obj(FIRST, 2 * H)],
      [],
      [{ manifestKey: `manifests/${OTHER}.v1.json`, objectKey: `shards/${OTHER}.v1.pvs` }],
      [FIRST],
      [],
    ],
  ])('%s', (_name, objects, temporaries, manifests, garbage, young) => {
    const plan = planGarbage({ objects, temporaries, manifests, nowMs: NOW, graceMs: H });
    expect(names(plan.delete)).toEqual(garbage);
    expect(names(plan.keptYoung)).toEqual(young);
  });

  test('objects of a shard whose manifest is unreadable are kept: which one it names is unknown', () => {
    const plan = planGarbage({
      objects: [obj(FIRST, 5 * H), obj(RERUN, 5 * H), obj(`shards/${OTHER}.v1.pvs`, 5 * H)],
      temporaries: [],
      manifests: [{ manifestKey: MANIFEST, objectKey: undefined }],
      nowMs: NOW,
      graceMs: H,
    });
    expect(names(plan.keptUnreadable)).toEqual([FIRST, RERUN]);
    expect(names(plan.delete)).toEqual([`shards/${OTHER}.v1.pvs`]);
  });

  test('keys under shards/ that are not shard objects are not ours to delete', () => {
    const plan = planGarbage({
      objects: [obj('shards/README.txt', 5 * H), obj('shards/src/2026/01/01/x.v1.pvs.bak', 5 * H)],
      temporaries: [],
      manifests: [],
      nowMs: NOW,
      graceMs: 0,
    });
    expect(plan.delete).toEqual([]);
    expect(plan.keptUnknown).toHaveLength(2);
  });

  test('counts committed objects', () => {
    const plan = planGarbage({
      objects: [obj(FIRST, 5 * H)],
      temporaries: [],
      manifests: [{ manifestKey: MANIFEST, objectKey: FIRST }],
      nowMs: NOW,
      graceMs: 0,
    });
    expect(plan.referenced).toBe(1);
    expect(plan.delete).toEqual([]);
  });
});
