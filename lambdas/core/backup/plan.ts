/**
 * plan: which shards a backup of [fromMs, toMs) consists of. Pure.
 *
 * Shards are whole, aligned windows: shard k of length L is [k*L, (k+1)*L) in ms since the
 * UNIX epoch (UTC; time zones and DST play no part). Planning [from, to) yields every aligned
 * window that intersects it, in time order: the first is the window containing `from`, the
 * last the window containing `to - 1`. So an unaligned range is widened to whole windows, and
 * the same shard always has the same window (and object key) whatever range asked for it.
 *
 * A window may extend past `to`, or past now. A shard pulled before its window has ended
 * misses later samples, so the caller must treat it as incomplete: it is committed with
 * `complete: false`, is pulled again by the next run, and the checkpoint never advances over
 * it (see checkpoint.ts). `windowIsPast` is the test.
 *
 * Shard length rules (checked here, reported as InputError):
 *   - a whole number of minutes, from 1m to 24h;
 *   - dividing 24h evenly, so a day is a whole number of shards and no shard crosses midnight
 *     UTC: the manifest catalog is partitioned by the UTC day of the window start.
 * At most MAX_SHARDS shards per plan, so a typo in --from cannot schedule millions of pulls.
 */
import { InputError } from '../errors';
import { validateSourceName, type ShardRef } from '../shard';
import type { TimeWindow } from '../types';
import { formatDuration, formatIso } from '../time';

export const MIN_SHARD_LENGTH_MS = 60_000;
export const MAX_SHARD_LENGTH_MS = 86_400_000;
export const MAX_SHARDS = 100_000;

export interface PlanInput {
  readonly source: string;
  readonly fromMs: number;
  readonly toMs: number;
  readonly shardLengthMs: number;
  /** Canonical selector string ('' for everything). */
  readonly selector: string;
  /** How the inputs are called in messages; defaults to the CLI's flags. */
  readonly flagNames?: { readonly from?: string; readonly to?: string; readonly shardLength?: string };
}

/** Every valid shard length, shortest first (1m, 2m, 3m, ... 12h, 24h). */
export function validShardLengths(): number[] {
  const out: number[] = [];
  for (let ms = MIN_SHARD_LENGTH_MS; ms <= MAX_SHARD_LENGTH_MS; ms += MIN_SHARD_LENGTH_MS) {
    if (MAX_SHARD_LENGTH_MS % ms === 0) out.push(ms);
  }
  return out;
}

/** Throws InputError unless `shardLengthMs` follows the shard length rules above. */
export function validateShardLength(shardLengthMs: number, flagName = '--shard-length'): number {
  const shown =
    Number.isSafeInteger(shardLengthMs) && shardLengthMs > 0 ? formatDuration(shardLengthMs) : String(shardLengthMs);
  const valid = () => `use one of ${validShardLengths().map(formatDuration).join(', ')}`;
  if (
    !Number.isSafeInteger(shardLengthMs) ||
    shardLengthMs < MIN_SHARD_LENGTH_MS ||
    shardLengthMs > MAX_SHARD_LENGTH_MS
  ) {
    throw new InputError(`invalid ${flagName} ${shown}: it must be between 1m and 24h; ${valid()}`);
  }
  if (shardLengthMs % MIN_SHARD_LENGTH_MS !== 0) {
    throw new InputError(`invalid ${flagName} ${shown}: it must be a whole number of minutes; ${valid()}`);
  }
  if (MAX_SHARD_LENGTH_MS % shardLengthMs !== 0) {
    throw new InputError(
      `invalid ${flagName} ${shown}: it must divide 24h evenly so that no shard crosses midnight UTC; ${valid()}`,
    );
  }
  return shardLengthMs;
}

/** True when the whole window lies before `nowMs`, so no sample can still arrive in it. */
export function windowIsPast(window: TimeWindow, nowMs: number): boolean {
  return window.endMs <= nowMs;
}

/** The aligned shards covering [fromMs, toMs), in time order. See the module comment. */
export function planShards(input: PlanInput): ShardRef[] {
  const fromFlag = input.flagNames?.from ?? '--from';
  const toFlag = input.flagNames?.to ?? '--to';
  const lengthFlag = input.flagNames?.shardLength ?? '--shard-length';
  const { fromMs, toMs, selector } = input;
  const source = validateSourceName(input.source);

  if (!Number.isSafeInteger(fromMs))
    throw new InputError(`invalid ${fromFlag} ${fromMs}: not a time in whole milliseconds`);
  if (!Number.isSafeInteger(toMs)) throw new InputError(`invalid ${toFlag} ${toMs}: not a time in whole milliseconds`);
  if (fromMs === toMs) {
    throw new InputError(
      `${fromFlag} and ${toFlag} are both ${formatIso(fromMs)}: the range [${fromFlag}, ${toFlag}) is empty; ${fromFlag} must be earlier than ${toFlag}`,
    );
  }
  if (fromMs > toMs) {
    throw new InputError(
      `${fromFlag} ${formatIso(fromMs)} is later than ${toFlag} ${formatIso(toMs)}: ${fromFlag} must be earlier than ${toFlag} (swap them?)`,
    );
  }
  const length = validateShardLength(input.shardLengthMs, lengthFlag);

  const first = Math.floor(fromMs / length);
  const end = Math.ceil(toMs / length);
  const count = end - first;
  if (count > MAX_SHARDS) {
    throw new InputError(
      `[${formatIso(fromMs)}, ${formatIso(toMs)}) spans ${count} shards of ${formatDuration(length)}, more than the ` +
        `limit of ${MAX_SHARDS}: narrow ${fromFlag}/${toFlag} or use a longer ${lengthFlag}`,
    );
  }

  const out: ShardRef[] = [];
  for (let k = first; k < end; k++) {
    out.push({ source, window: { startMs: k * length, endMs: (k + 1) * length }, selector });
  }
  return out;
}
