import { findGaps, gapsWithinSpan, planReads, uncovered } from '../../../../lambdas/core/restore/coverage';
import { SliceFilter } from '../../../../lambdas/core/restore/filter';
import type { ShardManifest } from '../../../../lambdas/core/shard';
import type { SeriesPiece } from '../../../../lambdas/core/types';

const H = 3_600_000;
const M = 60_000;

function shard(start: number, end: number, over: Partial<ShardManifest> = {}): ShardManifest {
  const selector = over.selector ?? '';
  const source = over.source ?? 'prod';
  return {
    format_version: 1,
    source,
    start_ms: start,
    end_ms: end,
    selector,
    object_key: `shards/${source}/${start}_${end - start}_${selector}.pvs`,
    series: 1,
    samples: 1,
    min_ts: start,
    max_ts: start,
    raw_bytes: 1,
    stored_bytes: 1,
    codec: 'zstd',
    sha256: '0'.repeat(64),
    complete: true,
    created_at: '2026-01-01T00:00:00Z',
    pulled_from: 'http://p',
    ...over,
  };
}

const w = (startMs: number, endMs: number) => ({ startMs, endMs });

describe('uncovered', () => {
  it.each([
    ['exactly one window', w(0, H), [w(0, H)], []],
    ['nothing', w(0, H), [], [[0, H]]],
    ['one ms short at the end', w(0, H), [w(0, H - 1)], [[H - 1, H]]],
    ['one ms short at the start', w(0, H), [w(1, H)], [[0, 1]]],
    ['one ms over on both sides', w(1, H - 1), [w(0, H)], []],
    ['a hole in the middle', w(0, 3 * H), [w(0, H), w(2 * H, 3 * H)], [[H, 2 * H]]],
    ['windows out of order and overlapping', w(0, 3 * H), [w(2 * H, 3 * H), w(0, 2 * H), w(H / 2, H)], []],
    ['a window entirely outside', w(H, 2 * H), [w(0, H), w(2 * H, 3 * H)], [[H, 2 * H]]],
    ['touching windows leave no gap', w(0, 2 * H), [w(0, H), w(H, 2 * H)], []],
    ['a range of 1 ms inside a hole', w(H, H + 1), [w(0, H), w(2 * H, 3 * H)], [[H, H + 1]]],
  ])('%s', (_name, range, windows, want) => {
    expect(uncovered(range, windows)).toEqual(want);
  });
});

describe('findGaps', () => {
  it('a missing hour of one source is named with its source', () => {
    const manifests = [shard(0, H), shard(2 * H, 3 * H), shard(0, 3 * H, { source: 'other' })];
    expect(findGaps(w(0, 3 * H), ['prod', 'other'], manifests)).toEqual([
      { source: 'prod', selector: '', start_ms: H, end_ms: 2 * H },
    ]);
  });

  it('a source with nothing in the range is one gap over all of it', () => {
    expect(findGaps(w(0, H), ['prod'], [shard(5 * H, 6 * H)])).toEqual([
      { source: 'prod', selector: '', start_ms: 0, end_ms: H },
    ]);
  });

  it('unfiltered shards cover every selector; a selector covers only itself', () => {
    const manifests = [shard(0, H), shard(H, 2 * H, { selector: '{job="a"}' }), shard(2 * H, 3 * H)];
    expect(findGaps(w(0, 3 * H), ['prod'], manifests)).toEqual([
      { source: 'prod', selector: '', start_ms: H, end_ms: 2 * H },
    ]);
  });

  it('gapsWithinSpan finds holes between a source’s first and last shard only', () => {
    const manifests = [shard(H, 2 * H), shard(4 * H, 5 * H), shard(0, H, { source: 'b' })];
    expect(gapsWithinSpan(manifests)).toEqual([{ source: 'prod', selector: '', start_ms: 2 * H, end_ms: 4 * H }]);
  });
});

describe('planReads', () => {
  const parts = (range: { startMs: number; endMs: number }, manifests: ShardManifest[]) =>
    planReads(range, manifests).map((r) => [
      r.manifest.object_key,
      r.slice.part.startMs,
      r.slice.part.endMs,
      r.slice.part.skip,
      r.slice.countOutside !== undefined,
    ]);

  it('shards that do not overlap are each read for the range they hold', () => {
    const a = shard(0, H);
    const b = shard(H, 2 * H);
    expect(parts(w(H / 2, 2 * H), [b, a])).toEqual([
      [a.object_key, H / 2, H, [], true],
      [b.object_key, H, 2 * H, [], true],
    ]);
  });

  it('1 h and 30 min shards of the same range: the 1 h shard supplies it, the others only count duplicates', () => {
    const hour = shard(0, H);
    const halves = [shard(0, 30 * M), shard(30 * M, H)];
    expect(parts(w(0, H), [...halves, hour])).toEqual([
      [halves[0]!.object_key, 0, 0, [], true],
      [hour.object_key, 0, H, [], true],
      [halves[1]!.object_key, 0, 0, [], true],
    ]);
  });

  it('a complete shard wins over a longer one pulled while its window was open', () => {
    const open = shard(0, H, { complete: false });
    const closed = shard(30 * M, H);
    expect(parts(w(0, H), [open, closed])).toEqual([
      [open.object_key, 0, 30 * M, [], true],
      [closed.object_key, 30 * M, H, [], true],
    ]);
  });

  it('a selector shard gives way to an unfiltered shard of the same window', () => {
    const all = shard(0, H);
    const api = shard(0, H, { selector: '{job="api"}' });
    expect(parts(w(0, H), [api, all])).toEqual([
      [all.object_key, 0, H, [], true],
      [api.object_key, 0, 0, [], true],
    ]);
  });

  it('two selectors over one window: series both match come from the first', () => {
    const a = shard(0, H, { selector: '{job="a"}' });
    const ab = shard(0, H, { selector: '{job=~"a|b"}' });
    expect(parts(w(0, H), [ab, a])).toEqual([
      [a.object_key, 0, H, [], true],
      [ab.object_key, 0, H, ['{job="a"}'], true],
    ]);
  });

  it('a shard that loses a middle stretch is read once per part, oldest part first', () => {
    const long = shard(0, 3 * H, { complete: false });
    const mid = shard(H, 2 * H);
    expect(parts(w(0, 3 * H), [long, mid])).toEqual([
      [long.object_key, 0, H, [], true],
      [mid.object_key, H, 2 * H, [], true],
      [long.object_key, 2 * H, 3 * H, [], false],
    ]);
  });

  it('sources are planned apart', () => {
    const a = shard(0, H);
    const b = shard(0, H, { source: 'b' });
    expect(parts(w(0, H), [a, b]).map((p) => p[2])).toEqual([H, H]);
  });
});

describe('SliceFilter', () => {
  const piece = (job: string, ts: number[]): SeriesPiece => ({
    labels: [
      { name: '__name__', value: 'up' },
      { name: 'job', value: job },
    ],
    timestamps: Float64Array.from(ts),
    values: Float64Array.from(ts, (t) => -t),
  });

  it('keeps its part and counts what other parts supply as duplicates, once per shard', () => {
    const [first, second] = planReads(w(0, 3 * H), [shard(0, 3 * H, { complete: false }), shard(H, 2 * H)])
      .filter((r) => r.manifest.end_ms === 3 * H)
      .map((r) => new SliceFilter(w(0, 3 * H), [], r.slice));
    const ts = [0, H - 1, H, 2 * H - 1, 2 * H, 3 * H - 1, 3 * H];
    expect(Array.from(first!.keep(piece('a', ts))!.timestamps)).toEqual([0, H - 1]);
    expect(first!.duplicates).toBe(2);
    expect(Array.from(second!.keep(piece('a', ts))!.timestamps)).toEqual([2 * H, 3 * H - 1]);
    expect(second!.duplicates).toBe(0);
  });

  it('skips series another selector shard supplies and counts them', () => {
    const reads = planReads(w(0, H), [
      shard(0, H, { selector: '{job="a"}' }),
      shard(0, H, { selector: '{job=~"a|b"}' }),
    ]);
    const wide = new SliceFilter(w(0, H), [], reads[1]!.slice);
    expect(wide.keep(piece('a', [1, 2]))).toBeUndefined();
    expect(Array.from(wide.keep(piece('b', [1, 2]))!.timestamps)).toEqual([1, 2]);
    expect(wide.duplicates).toBe(2);
  });

  it('keeps value bits: the kept piece shares the decoded values', () => {
    const [read] = planReads(w(0, H), [shard(0, H)]);
    const p = piece('a', [1, 2]);
    new BigUint64Array(p.values.buffer)[0] = 0x7ff0000000000002n;
    const kept = new SliceFilter(w(0, H), [], read!.slice).keep(p)!;
    expect(new BigUint64Array(kept.values.buffer, kept.values.byteOffset, 1)[0]).toBe(0x7ff0000000000002n);
  });
});
