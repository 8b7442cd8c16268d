/**
 * plan-tasks: a run's range × its selectors → the BackupShard tasks of the backup state
 * machine's Map. Pure. Tasks are references (window, selector), never data.
 */
import { planShards, type PlanInput } from './plan';
import { isEmptyRange, type RunRange } from './plan-run';

/** One BackupShard task. */
export interface ShardTask {
  readonly source: string;
  readonly startMs: number;
  readonly endMs: number;
  /** Canonical selector, '' for every series. */
  readonly selector: string;
  readonly force: boolean;
}

export interface ShardTasksInput {
  readonly source: string;
  readonly range: RunRange;
  readonly shardLengthMs: number;
  /** Canonical selectors; none means one shard per window holding every series. */
  readonly selectors: readonly string[];
  readonly force: boolean;
  /** How the caller's inputs are called in error messages (see planShards). */
  readonly flagNames?: PlanInput['flagNames'];
}

/** The aligned windows of the range, once per selector (all of one selector's windows first); none when the range is empty. */
export function planShardTasks(input: ShardTasksInput): ShardTask[] {
  if (isEmptyRange(input.range)) return [];
  const selectors = input.selectors.length > 0 ? input.selectors : [''];
  return selectors.flatMap((selector) =>
    planShards({
      source: input.source,
      fromMs: input.range.fromMs,
      toMs: input.range.toMs,
      shardLengthMs: input.shardLengthMs,
      selector,
      ...(input.flagNames !== undefined ? { flagNames: input.flagNames } : {}),
    }).map((ref) => ({
      source: ref.source,
      startMs: ref.window.startMs,
      endMs: ref.window.endMs,
      selector: ref.selector,
      force: input.force,
    })),
  );
}
