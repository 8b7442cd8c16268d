import { InputError } from '../../../../lambdas/core/errors';
import {
  MAX_SHARDS,
  planShards,
  validateShardLength,
  validShardLengths,
  windowIsPast,
} from '../../../../lambdas/core/backup/plan';
import { formatIso } from '../../../../lambdas/core/time';

const M = 60_000;
const H = 60 * M;
const D = 24 * H;
const T0 = Date.UTC(2026, 10, 21); // 2026-11-21T00:00:00Z, a multiple of every valid shard length

function plan(fromMs: number, toMs: number, shardLengthMs = H) {
  return planShards({ source: 'prod', fromMs, toMs, shardLengthMs, selector: '' });
}

function windows(fromMs: number, toMs: number, shardLengthMs = H): [string, string][] {
  return plan(fromMs, toMs, shardLengthMs).map((r) => [formatIso(r.window.startMs), formatIso(r.window.endMs)]);
}

function errorOf(f: () => unknown): InputError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return err as InputError;
  }
  throw new Error('expected an InputError');
}

describe('planShards: aligned windows intersecting [from, to)', () => {
  test.each<[string, number, number, number, [string, string][]]>([
    ['exactly one shard', T0, T0 + H, H, [['2026-11-21T00:00:00Z', '2026-11-21T01:00:00Z']]],
    ['one ms short of one shard', T0, T0 + H - 1, H, [['2026-11-21T00:00:00Z', '2026-11-21T01:00:00Z']]],
    [
      'one ms over one shard',
      T0,
      T0 + H + 1,
      H,
      [
        ['2026-11-21T00:00:00Z', '2026-11-21T01:00:00Z'],
        ['2026-11-21T01:00:00Z', '2026-11-21T02:00:00Z'],
      ],
    ],
    [
      'from one ms before a boundary',
      T0 - 1,
      T0 + H,
      H,
      [
        ['2026-11-20T23:00:00Z', '2026-11-21T00:00:00Z'],
        ['2026-11-21T00:00:00Z', '2026-11-21T01:00:00Z'],
      ],
    ],
    ['from one ms after a boundary', T0 + 1, T0 + H, H, [['2026-11-21T00:00:00Z', '2026-11-21T01:00:00Z']]],
    [
      'a range smaller than a shard, inside it',
      T0 + 10 * M,
      T0 + 20 * M,
      H,
      [['2026-11-21T00:00:00Z', '2026-11-21T01:00:00Z']],
    ],
    ['a 1 ms range', T0 + 5, T0 + 6, H, [['2026-11-21T00:00:00Z', '2026-11-21T01:00:00Z']]],
    [
      'unaligned from and to',
      T0 + 30 * M,
      T0 + 2 * H + 15 * M,
      H,
      [
        ['2026-11-21T00:00:00Z', '2026-11-21T01:00:00Z'],
        ['2026-11-21T01:00:00Z', '2026-11-21T02:00:00Z'],
        ['2026-11-21T02:00:00Z', '2026-11-21T03:00:00Z'],
      ],
    ],
    [
      'a range crossing midnight UTC',
      T0 - 3 * H,
      T0 + 3 * H,
      2 * H,
      [
        ['2026-11-20T20:00:00Z', '2026-11-20T22:00:00Z'],
        ['2026-11-20T22:00:00Z', '2026-11-21T00:00:00Z'],
        ['2026-11-21T00:00:00Z', '2026-11-21T02:00:00Z'],
        ['2026-11-21T02:00:00Z', '2026-11-21T04:00:00Z'],
      ],
    ],
    [
      // Europe switches to summer time on 2026-03-29 at 01:00Z; UTC windows do not care.
      'a DST change day is 24 ordinary UTC hours',
      Date.UTC(2026, 2, 29),
      Date.UTC(2026, 2, 30),
      6 * H,
      [
        ['2026-03-29T00:00:00Z', '2026-03-29T06:00:00Z'],
        ['2026-03-29T06:00:00Z', '2026-03-29T12:00:00Z'],
        ['2026-03-29T12:00:00Z', '2026-03-29T18:00:00Z'],
        ['2026-03-29T18:00:00Z', '2026-03-30T00:00:00Z'],
      ],
    ],
    ['24h shards are UTC days', T0 + 5 * H, T0 + 6 * H, D, [['2026-11-21T00:00:00Z', '2026-11-22T00:00:00Z']]],
    [
      '90m shards align to the epoch, not to the range',
      T0 + 100 * M,
      T0 + 200 * M,
      90 * M,
      [
        ['2026-11-21T01:30:00Z', '2026-11-21T03:00:00Z'],
        ['2026-11-21T03:00:00Z', '2026-11-21T04:30:00Z'],
      ],
    ],
  ])('%s', (_name, from, to, length, expected) => {
    expect(windows(from, to, length)).toEqual(expected);
  });

  test('every shard carries source and selector, windows are contiguous and of one length', () => {
    const refs = planShards({
      source: 'prod',
      fromMs: T0 + 7,
      toMs: T0 + D - 7,
      shardLengthMs: 15 * M,
      selector: '{job="x"}',
    });
    expect(refs).toHaveLength(96);
    refs.forEach((r, i) => {
      expect(r.source).toBe('prod');
      expect(r.selector).toBe('{job="x"}');
      expect(r.window.endMs - r.window.startMs).toBe(15 * M);
      expect(r.window.startMs % (15 * M)).toBe(0);
      if (i > 0) expect(r.window.startMs).toBe(refs[i - 1]!.window.endMs);
    });
  });

  test('the same window is planned whatever range asks for it', () => {
    const a = plan(T0, T0 + 3 * H).map((r) => r.window);
    const b = plan(T0 + H + 1, T0 + 2 * H + 5).map((r) => r.window);
    expect(a).toEqual(expect.arrayContaining(b));
  });

  test('shard windows never cross midnight UTC for any valid length', () => {
    for (const length of validShardLengths()) {
      for (const r of plan(T0 - D, T0 + D, length)) {
        expect(Math.floor(r.window.startMs / D)).toBe(Math.floor((r.window.endMs - 1) / D));
      }
    }
  });
});

describe('planShards: validation', () => {
  test('from after to names both flags and says which is later', () => {
    const err = errorOf(() => plan(T0 + H, T0));
    expect(err.message).toBe(
      '--from 2026-11-21T01:00:00Z is later than --to 2026-11-21T00:00:00Z: --from must be earlier than --to (swap them?)',
    );
  });

  test('from equal to to is an empty range', () => {
    expect(errorOf(() => plan(T0, T0)).message).toContain('--from and --to are both 2026-11-21T00:00:00Z');
  });

  test('custom flag names are used in messages', () => {
    const err = errorOf(() =>
      planShards({
        source: 'prod',
        fromMs: T0 + 1,
        toMs: T0,
        shardLengthMs: H,
        selector: '',
        flagNames: { from: 'start', to: 'end' },
      }),
    );
    expect(err.message).toContain('start 2026-11-21T00:00:00.001Z is later than end');
  });

  test.each<[number, string]>([
    [30_000, 'between 1m and 24h'],
    [2 * D, 'between 1m and 24h'],
    [0, 'between 1m and 24h'],
    [-H, 'between 1m and 24h'],
    [Number.NaN, 'between 1m and 24h'],
    [90_000, 'whole number of minutes'],
    [7 * M, 'divide 24h evenly'],
    [5 * H, 'divide 24h evenly'],
    [25 * M, 'divide 24h evenly'],
  ])('shard length %d is rejected (%s)', (length, why) => {
    const err = errorOf(() => plan(T0, T0 + D, length));
    expect(err.message).toContain('--shard-length');
    expect(err.message).toContain(why);
    expect(err.message).toContain('use one of 1m, 2m, 3m');
    expect(err.message).toContain('12h, 1d');
  });

  test('valid shard lengths', () => {
    const lengths = validShardLengths();
    expect(lengths[0]).toBe(M);
    expect(lengths[lengths.length - 1]).toBe(D);
    expect(lengths).toEqual(
      expect.arrayContaining([5 * M, 10 * M, 15 * M, 30 * M, H, 2 * H, 3 * H, 4 * H, 6 * H, 8 * H, 12 * H]),
    );
    for (const l of lengths) {
      expect(D % l).toBe(0);
      expect(validateShardLength(l)).toBe(l);
    }
  });

  test('too many shards is refused with a clear message', () => {
    expect(plan(T0, T0 + MAX_SHARDS * M, M)).toHaveLength(MAX_SHARDS);
    const err = errorOf(() => plan(T0, T0 + MAX_SHARDS * M + 1, M));
    expect(err.message).toContain(`spans ${MAX_SHARDS + 1} shards of 1m, more than the limit of ${MAX_SHARDS}`);
    expect(err.message).toContain('narrow --from/--to or use a longer --shard-length');
  });

  test('a range from the epoch in unix ms by mistake is refused by the cap, not planned', () => {
    expect(() => plan(0, 1_700_000_000_000 * 1000, H)).toThrow(InputError);
  });

  test('times must be whole milliseconds and the source a valid name', () => {
    expect(errorOf(() => plan(T0 + 0.5, T0 + H)).message).toContain('--from');
    expect(errorOf(() => plan(T0, Number.POSITIVE_INFINITY)).message).toContain('--to');
    expect(() => planShards({ source: '../x', fromMs: T0, toMs: T0 + H, shardLengthMs: H, selector: '' })).toThrow(
      InputError,
    );
  });
});

describe('windowIsPast', () => {
  test('a window is past once now reaches its end', () => {
    const w = { startMs: T0, endMs: T0 + H };
    expect(windowIsPast(w, T0 + H - 1)).toBe(false);
    expect(windowIsPast(w, T0 + H)).toBe(true);
  });
});
