/**
 * The contract between the state machines (cdk/) and the Lambda handlers (lambdas/handlers/):
 * the inputs, parsed by the schemas in lambdas/schemas/, and the outputs the handlers shape.
 * States carry references (keys, windows, counts), never sample data: Step Functions state is
 * capped at 256 KiB.
 */

export type { RuntimeConfig, RuntimeSource } from '../schemas/runtime-config';
export {
  FEDERATE_CAPTURE,
  HANDLERS,
  type BackupInput,
  type BackupInputSent,
  type BackupShardTask,
  type CommitInput,
  type ReportInput,
  type RestoreInput,
  type RestoreInputSent,
  type RestoreShardTask,
  type RestoreShardTaskSent,
  type ThawInput,
} from '../schemas/tasks';
import type { BackupShardTask, RestoreShardTaskSent } from '../schemas/tasks';
import type { ThawTier } from '../schemas/fields';

// ---- backup state machine ----

export interface BackupPlanOutput {
  readonly source: string;
  readonly runId: string;
  readonly shardCount: number;
  /** 'inline': shards are in `shards`; 's3': they are a JSON array at `planKey` (Distributed Map ItemReader). */
  readonly mode: 'inline' | 's3';
  readonly shards: readonly BackupShardTask[];
  readonly planKey: string;
  /** The planned range, for Commit. */
  readonly fromMs: number;
  readonly toMs: number;
  /** When the plan was made (ms since the epoch); pass it to Commit for the DurationSeconds metric. */
  readonly plannedAtMs?: number;
}

export interface BackupShardOutput {
  readonly startMs: number;
  readonly endMs: number;
  readonly status: 'committed' | 'skipped';
  readonly samples: number;
  readonly storedBytes: number;
  readonly key: string;
}

export interface CommitOutput {
  readonly source: string;
  readonly runId: string;
  readonly planned: number;
  readonly committed: number;
  readonly missing: readonly string[];
  readonly checkpointMs: number | null;
  readonly samples: number;
  readonly storedBytes: number;
  /** Leftovers of killed runs deleted after the commit; null when gc failed (a warning is logged). */
  readonly gcDeleted: number | null;
}

// ---- restore state machine ----

export interface RestorePlanOutput {
  readonly runId: string;
  readonly planKey: string;
  readonly shardCount: number;
  readonly mode: 'inline' | 's3';
  readonly shards: readonly RestoreShardTaskSent[];
  readonly samples: number;
  readonly storedBytes: number;
  readonly thawTier: ThawTier;
}

export interface ThawOutput {
  readonly runId: string;
  readonly planKey: string;
  readonly thawTier: ThawTier;
  /** Objects still being restored from an archive tier; 0 means every object is readable. */
  readonly pending: number;
  readonly requested: number;
}

export interface RestoreShardOutput {
  readonly key: string;
  readonly samples: number;
  readonly series: number;
  readonly seconds: number;
}

/** Report reads per-shard result objects written by RestoreShard under restores/<runId>/results/. */
export interface ReportOutput {
  readonly runId: string;
  readonly reportKey: string;
  readonly shards: number;
  readonly restored: number;
  readonly failed_shards: number;
  readonly samples: number;
  readonly series: number;
}
