import { InputError } from '../../../lambdas/core/errors';
import { formatDuration, formatIso, parseDuration, parseTime } from '../../../lambdas/core/time';

const NOW = Date.UTC(2026, 10, 21, 12, 0, 0); // 2026-11-21T12:00:00Z
const H = 3_600_000;

function errorOf(f: () => unknown): InputError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return err as InputError;
  }
  throw new Error('expected an InputError');
}

describe('parseTime', () => {
  test.each([
    ['2026-11-21T10:00:00Z', Date.UTC(2026, 10, 21, 10)],
    ['2026-11-21t10:00:00z', Date.UTC(2026, 10, 21, 10)],
    ['2026-11-21 10:00:00Z', Date.UTC(2026, 10, 21, 10)],
    ['2026-11-21T11:00:00+01:00', Date.UTC(2026, 10, 21, 10)],
    ['2026-11-21T05:30:00-04:30', Date.UTC(2026, 10, 21, 10)],
    ['2026-11-21T10:00:00.5Z', Date.UTC(2026, 10, 21, 10) + 500],
    ['2026-11-21T10:00:00.123Z', Date.UTC(2026, 10, 21, 10) + 123],
    // Finer than ms is truncated, as Prometheus does for RFC3339.
    ['2026-11-21T10:00:00.123999999Z', Date.UTC(2026, 10, 21, 10) + 123],
    ['2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
    ['1970-01-01T00:00:00Z', 0],
    ['  2026-11-21T10:00:00Z  ', Date.UTC(2026, 10, 21, 10)],
  ])('RFC3339 %s', (text, expected) => {
    expect(parseTime(text, NOW, '--from')).toBe(expected);
  });

  test.each([
    ['1700000000', 1_700_000_000_000],
    ['1700000000.5', 1_700_000_000_500],
    ['1700000000.123', 1_700_000_000_123],
    // Rounded to the millisecond, as Prometheus does for float seconds.
    ['1700000000.1235', 1_700_000_000_124],
    ['1700000000.1234', 1_700_000_000_123],
    ['1700000000.9996', 1_700_000_001_000],
    ['0', 0],
    ['99999999999', 99_999_999_999_000],
  ])('unix seconds %s', (text, expected) => {
    expect(parseTime(text, NOW, '--from')).toBe(expected);
  });

  test.each([
    ['now', NOW],
    ['NOW', NOW],
    ['now-6h', NOW - 6 * H],
    ['now-30m', NOW - 30 * 60_000],
    ['now-1d', NOW - 24 * H],
    ['now-1h30m', NOW - 1.5 * H],
    ['now - 2h', NOW - 2 * H],
    ['now-0', NOW],
    ['now-500ms', NOW - 500],
  ])('relative %s', (text, expected) => {
    expect(parseTime(text, NOW, '--to')).toBe(expected);
  });

  test('unix milliseconds are refused with a hint to divide by 1000', () => {
    const err = errorOf(() => parseTime('1700000000000', NOW, '--from'));
    expect(err.message).toContain('--from');
    expect(err.message).toContain('"1700000000000"');
    expect(err.message).toContain('milliseconds');
    expect(err.message).toContain('divide by 1000 (1700000000)');
  });

  test.each([
    ['', 'empty'],
    ['yesterday', 'RFC3339'],
    ['2026-11-21', 'add a time and zone, e.g. 2026-11-21T00:00:00Z'],
    ['2026-11-21T10:00:00', 'no zone'],
    ['2026-11-21T10:00', 'no zone'],
    ['2026-13-01T00:00:00Z', 'month 13'],
    ['2026-02-29T00:00:00Z', 'day 29 does not exist'],
    ['2026-11-21T24:00:00Z', 'hour 24'],
    ['2026-11-21T10:60:00Z', 'minute 60'],
    ['2026-11-21T10:00:60Z', 'second 60'],
    ['2026-11-21T10:00:00+25:00', 'offset'],
    ['now+1h', 'now-<duration>'],
    ['now-6x', 'now-30m'],
    ['now-', 'now-30m'],
    ['-1700000000', 'RFC3339'],
    ['1.7e9', 'RFC3339'],
  ])('rejects %j', (text, hint) => {
    const err = errorOf(() => parseTime(text, NOW, '--from'));
    expect(err.message).toContain('--from');
    expect(err.message).toContain(hint);
  });

  test('errors quote the bad value and give valid examples', () => {
    const err = errorOf(() => parseTime('tomorrow', NOW, '--to'));
    expect(err.message).toBe(
      'invalid --to "tomorrow": use an RFC3339 time (2026-11-21T10:00:00Z, 2026-11-21T11:00:00.5+01:00), ' +
        'unix seconds (1700000000, 1700000000.5) or now with an optional offset (now, now-6h, now-1h30m)',
    );
  });
});

describe('parseDuration', () => {
  test.each([
    ['0', 0],
    ['1ms', 1],
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', H],
    ['1h30m', 1.5 * H],
    ['1d', 24 * H],
    ['2w', 14 * 24 * H],
    ['1y', 365 * 24 * H],
    ['1y2w3d4h5m6s7ms', 365 * 24 * H + 14 * 24 * H + 3 * 24 * H + 4 * H + 5 * 60_000 + 6000 + 7],
    ['90m', 90 * 60_000],
    ['30ms', 30],
    [' 6h ', 6 * H],
  ])('%s', (text, expected) => {
    expect(parseDuration(text, '--shard-length')).toBe(expected);
  });

  test.each(['', 'h', '1', '1.5h', '-1h', '30m1h', '1h1h', '1H', '1 h', 'forever', '1hour'])('rejects %j', (text) => {
    const err = errorOf(() => parseDuration(text, '--shard-length'));
    expect(err.message).toContain('--shard-length');
    expect(err.message).toContain(JSON.stringify(text));
    expect(err.message).toContain('1h30m');
  });

  test('rejects durations beyond the safe integer range', () => {
    expect(errorOf(() => parseDuration('99999999999999999y', '--timeout')).message).toContain('too long');
  });
});

describe('formatIso / formatDuration', () => {
  test('formatIso drops zero milliseconds and keeps others', () => {
    expect(formatIso(Date.UTC(2026, 10, 21, 10))).toBe('2026-11-21T10:00:00Z');
    expect(formatIso(Date.UTC(2026, 10, 21, 10) + 5)).toBe('2026-11-21T10:00:00.005Z');
    expect(formatIso(0)).toBe('1970-01-01T00:00:00Z');
    expect(formatIso(Number.NaN)).toBe('<invalid time NaN>');
  });

  test('formatIso output parses back to the same instant', () => {
    for (const t of [0, 1, 1_700_000_000_123, NOW]) expect(parseTime(formatIso(t), NOW, '--x')).toBe(t);
  });

  test.each([
    [0, '0s'],
    [500, '500ms'],
    [90 * 60_000, '1h30m'],
    [24 * H, '1d'],
    [8 * 24 * H, '1w1d'],
  ])('formatDuration(%d) = %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text, '--x')).toBe(ms);
  });
});
