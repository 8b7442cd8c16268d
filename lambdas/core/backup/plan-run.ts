/**
 * plan-run: the range a scheduled (or explicit) backup run covers. Pure.
 *
 * Scheduled runs back up [checkpoint, now − lag) cut down to whole shard windows, so every
 * planned shard is complete when pulled and the checkpoint can move over it. The first run
 * (no checkpoint) starts at now − initialLookback. Explicit from/to override either end, as
 * given (planShards widens them to whole windows).
 */
import { InputError } from '../errors';
import { parseTime } from '../time';

export interface RunRangeInput {
  readonly nowMs: number;
  /** End of the committed run so far, if any. */
  readonly checkpointMs?: number;
  readonly from?: string;
  readonly to?: string;
  readonly shardLengthMs: number;
  readonly lagMs: number;
  readonly initialLookbackMs: number;
}

/** [fromMs, toMs); empty (toMs <= fromMs) when no whole window has closed since the checkpoint. */
export interface RunRange {
  readonly fromMs: number;
  readonly toMs: number;
}

export function alignDown(ms: number, lengthMs: number): number {
  return Math.floor(ms / lengthMs) * lengthMs;
}

export function planRunRange(input: RunRangeInput): RunRange {
  const fromMs =
    input.from !== undefined
      ? parseTime(input.from, input.nowMs, 'from')
      : (input.checkpointMs ?? input.nowMs - input.initialLookbackMs);
  const toMs =
    input.to !== undefined
      ? parseTime(input.to, input.nowMs, 'to')
      : alignDown(input.nowMs - input.lagMs, input.shardLengthMs);
  if (input.from !== undefined && input.to !== undefined && fromMs >= toMs) {
    throw new InputError(`from ${input.from} is not before to ${input.to}: swap them or widen the range`);
  }
  return { fromMs, toMs };
}

export function isEmptyRange(range: RunRange): boolean {
  return range.toMs <= range.fromMs;
}
