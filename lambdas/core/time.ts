/**
 * Parsing and formatting of times and durations given on the command line or in config.
 *
 * Pure: the current time is always a parameter (`nowMs`), never read from the clock here, so
 * a run evaluates `now` exactly once and every step sees the same instant.
 *
 * Times are milliseconds since the UNIX epoch, like Prometheus timestamps. Finer precision is
 * dropped the way Prometheus drops it: RFC3339 fractions are truncated to the millisecond,
 * fractional unix seconds are rounded to the millisecond.
 */
import { InputError } from './errors';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;
const YEAR = 365 * DAY;

/** Unix seconds above this are surely milliseconds: 1e11 s is the year 5138. */
const SURELY_MILLISECONDS = 1e11;

const TIME_EXAMPLES =
  'use an RFC3339 time (2026-11-21T10:00:00Z, 2026-11-21T11:00:00.5+01:00), ' +
  'unix seconds (1700000000, 1700000000.5) or now with an optional offset (now, now-6h, now-1h30m)';

const DURATION_EXAMPLES =
  'use a Prometheus duration such as 30s, 5m, 1h30m, 6h, 1d, 2w or 1y (units ms s m h d w y, largest first)';

/** Prometheus' duration syntax: units in descending order, each at most once. */
const DURATION_RE = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;
const DURATION_UNITS = [YEAR, WEEK, DAY, HOUR, MINUTE, SECOND, 1];

const RFC3339_RE = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$/;
const UNIX_SECONDS_RE = /^(\d+)(?:\.(\d*))?$/;

function quote(text: string): string {
  return JSON.stringify(text);
}

/**
 * Parses a Prometheus duration (`1h30m`, `90s`, `500ms`, `2w`, `0`) into milliseconds.
 * `y` is 365 days and `w` is 7 days, as in Prometheus.
 */
export function parseDuration(text: string, flagName: string): number {
  const trimmed = text.trim();
  if (trimmed === '0') return 0;
  const match = trimmed === '' ? null : DURATION_RE.exec(trimmed);
  if (match === null) {
    throw new InputError(`invalid ${flagName} ${quote(text)}: ${durationMistake(trimmed)}${DURATION_EXAMPLES}`);
  }
  let total = 0;
  DURATION_UNITS.forEach((unitMs, i) => {
    const digits = match[i + 1];
    if (digits !== undefined) total += Number(digits) * unitMs;
  });
  if (!Number.isSafeInteger(total)) {
    throw new InputError(`invalid ${flagName} ${quote(text)}: the duration is too long`);
  }
  return total;
}

/** A timeout: like parseDuration, but 0 is refused, since every request would fail at once. */
export function parseTimeout(text: string, flagName: string): number {
  const ms = parseDuration(text, flagName);
  if (ms === 0) {
    throw new InputError(
      `${flagName} ${text.trim()} would fail every request at once: give a duration longer than 0, such as 30s or 2m`,
    );
  }
  return ms;
}

/** A range of --from and --to must hold at least a millisecond. */
export function requireBefore(fromMs: number, toMs: number, from: string | undefined, to: string | undefined): void {
  if (fromMs >= toMs) throw new InputError(`--from ${from} is not before --to ${to}: swap them or widen the range`);
}

/** What a duration that does not parse probably got wrong, as the start of the message. */
function durationMistake(trimmed: string): string {
  if (trimmed === '') return 'it is empty; ';
  if (trimmed.startsWith('-')) return 'a duration cannot be negative; ';
  if (/^\d+$/.test(trimmed)) return `the unit is missing (${trimmed}s? ${trimmed}m?); `;
  if (/^\d*\.\d+[a-z]+$/.test(trimmed)) return 'fractions are not understood (write 1m30s, not 1.5m); ';
  return '';
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function parseRfc3339(text: string, flagName: string): number | undefined {
  const m = RFC3339_RE.exec(text);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s, frac = '', zone = 'Z'] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  const bad = (what: string) => new InputError(`invalid ${flagName} ${quote(text)}: ${what}; ${TIME_EXAMPLES}`);
  if (month < 1 || month > 12) throw bad(`month ${mo} does not exist`);
  if (day < 1 || day > daysInMonth(year, month)) throw bad(`day ${d} does not exist in ${y}-${mo}`);
  if (hour > 23) throw bad(`hour ${h} is out of range 00-23`);
  if (minute > 59) throw bad(`minute ${mi} is out of range 00-59`);
  if (second > 59) throw bad(`second ${s} is out of range 00-59`);
  let offsetMinutes = 0;
  if (zone !== 'Z' && zone !== 'z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const oh = Number(zone.slice(1, 3));
    const om = Number(zone.slice(4, 6));
    if (oh > 23 || om > 59) throw bad(`zone offset ${zone} is out of range`);
    offsetMinutes = sign * (oh * 60 + om);
  }
  // Date.UTC maps years 0-99 to 1900-1999; setUTCFullYear does not.
  const date = new Date(Date.UTC(2000, month - 1, day, hour, minute, second));
  date.setUTCFullYear(year);
  const millis = Number(frac.padEnd(3, '0').slice(0, 3));
  return date.getTime() + millis - offsetMinutes * MINUTE;
}

function parseUnixSeconds(text: string, flagName: string): number | undefined {
  const m = UNIX_SECONDS_RE.exec(text);
  if (m === null) return undefined;
  const [, whole = '', frac = ''] = m;
  const seconds = Number(whole);
  if (seconds > SURELY_MILLISECONDS) {
    const suggestion = (Number(`${whole}.${frac || '0'}`) / 1000).toString();
    throw new InputError(
      `invalid ${flagName} ${quote(text)}: this looks like unix milliseconds, but promvault takes unix seconds: ` +
        `divide by 1000 (${suggestion}) or ${TIME_EXAMPLES}`,
    );
  }
  // Exact decimal arithmetic: round the fraction to whole milliseconds.
  const digits = frac.padEnd(4, '0');
  const millis = Number(digits.slice(0, 3)) + (Number(digits[3]) >= 5 ? 1 : 0);
  return seconds * SECOND + millis;
}

/**
 * Parses a time given as RFC3339 (`2026-11-21T10:00:00Z`, offsets and fractional seconds
 * allowed), unix seconds (`1700000000`, `1700000000.5`), `now` or `now-<duration>`
 * (`now-6h`, `now-1h30m`). Returns milliseconds since the epoch.
 *
 * Unix milliseconds are refused, with a hint, rather than silently misread as seconds far in
 * the future. `flagName` (e.g. `--from`) names the input in error messages.
 */
export function parseTime(text: string, nowMs: number, flagName: string): number {
  const trimmed = text.trim();
  if (trimmed === '') throw new InputError(`invalid ${flagName}: it is empty; ${TIME_EXAMPLES}`);

  const lower = trimmed.toLowerCase();
  if (lower === 'now') return nowMs;
  if (lower.startsWith('now')) {
    const rest = trimmed.slice(3).trim();
    if (rest.startsWith('-')) {
      const durationText = rest.slice(1).trim();
      const match = durationText === '' ? null : DURATION_RE.exec(durationText);
      if (match === null && durationText !== '0') {
        throw new InputError(
          `invalid ${flagName} ${quote(text)}: ${quote(durationText)} after "now-" is not a duration; ` +
            `use e.g. now-30m, now-6h, now-1d or now-1h30m (units ms s m h d w y)`,
        );
      }
      return nowMs - parseDuration(durationText, flagName);
    }
    throw new InputError(
      `invalid ${flagName} ${quote(text)}: only "now" or "now-<duration>" is understood (e.g. now-6h); ${TIME_EXAMPLES}`,
    );
  }

  const seconds = parseUnixSeconds(trimmed, flagName);
  if (seconds !== undefined) return seconds;

  const rfc = parseRfc3339(trimmed, flagName);
  if (rfc !== undefined) return rfc;

  if (/^\d{4}-\d{2}-\d{2}$/.test(trimmed)) {
    throw new InputError(
      `invalid ${flagName} ${quote(text)}: a date alone is ambiguous; add a time and zone, e.g. ${trimmed}T00:00:00Z`,
    );
  }
  if (/^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(trimmed)) {
    throw new InputError(
      `invalid ${flagName} ${quote(text)}: the time has no zone; add Z for UTC or an offset such as +01:00 ` +
        `(e.g. 2026-11-21T10:00:00Z)`,
    );
  }
  throw new InputError(`invalid ${flagName} ${quote(text)}: ${TIME_EXAMPLES}`);
}

/**
 * Formats a time for messages and manifests: RFC3339 in UTC, with milliseconds only when
 * they are not zero (`2026-11-21T10:00:00Z`, `2026-11-21T10:00:00.500Z`).
 */
export function formatIso(ms: number): string {
  const date = new Date(ms);
  if (Number.isNaN(date.getTime())) return `<invalid time ${ms}>`;
  return date.toISOString().replace('.000Z', 'Z');
}

/** Formats a duration in milliseconds the way parseDuration reads it, e.g. 5400000 -> "1h30m". */
export function formatDuration(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) return `${ms}ms`;
  if (ms === 0) return '0s';
  const units: [string, number][] = [
    ['y', YEAR],
    ['w', WEEK],
    ['d', DAY],
    ['h', HOUR],
    ['m', MINUTE],
    ['s', SECOND],
    ['ms', 1],
  ];
  let rest = ms;
  let out = '';
  for (const [name, size] of units) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${name}`;
      rest -= n * size;
    }
  }
  return out;
}

/** Waits `ms`, or rejects with the signal's reason once it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    // Removed when the sleep ends: the signal may outlive this request (middy shares one per process).
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
