/**
 * The contract between the state machines (cdk/) and the Lambda handlers (lambdas/handlers/).
 * States carry references (keys, windows, counts), never sample data: Step Functions state is
 * capped at 256 KiB.
 */

/** Runtime configuration, passed to every function as JSON in the PROMVAULT_CONFIG variable. */
export interface RuntimeConfig {
  readonly bucket: string;
  /** Key prefix inside the bucket, '' for the root. */
  readonly prefix: string;
  readonly sources: readonly RuntimeSource[];
  readonly restore: {
    readonly targetUrl?: string;
    readonly targetSecretName?: string;
    readonly concurrency: number;
    readonly batchSamples: number;
    readonly thawTier: 'Standard' | 'Bulk' | 'Expedited';
    readonly thawDays: number;
  };
  /** Plans with more shards than this go to S3 and run through a Distributed Map. */
  readonly inlinePlanLimit: number;
}

export interface RuntimeSource {
  readonly name: string;
  /** Remote-read URLs; the first healthy one is used, the others are fail-over replicas. */
  readonly remoteReadUrls: readonly string[];
  readonly selectors: readonly string[];
  /** Secrets Manager secret with {"username","password"} or {"bearerToken"} or {"headers":{...}}. */
  readonly credentialsSecretName?: string;
  readonly shardLengthMs: number;
  /** Never back up windows closer to now than this: the source may still be ingesting them. */
  readonly lagMs: number;
  /** Where the very first run starts when there is no checkpoint yet. */
  readonly initialLookbackMs: number;
}

/** One shard to back up: the item of the backup Map. */
export interface BackupShardTask {
  readonly source: string;
  readonly startMs: number;
  readonly endMs: number;
  /** Canonical selector, '' for every series. */
  readonly selector: string;
  readonly force: boolean;
}

// ---- backup state machine ----

/** Input of an execution (EventBridge Scheduler sends {source}). */
export interface BackupInput {
  readonly source: string;
  /** Explicit range (times as RFC3339, unix seconds or now-…); default: checkpoint → now − lag. */
  readonly from?: string;
  readonly to?: string;
  readonly force?: boolean;
  /** Optional run id (e.g. `$$.Execution.Name`); default: `<source>-<fromMs>-<toMs>` of the planned range. */
  readonly executionId?: string;
}

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

/** Commit reads the manifests (the source of truth), not the Map's results. */
export interface CommitInput {
  readonly source: string;
  readonly runId: string;
  readonly planKey: string;
  /** BackupPlanOutput.plannedAtMs; when given, Commit emits DurationSeconds = now − plannedAtMs. */
  readonly plannedAtMs?: number;
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
}

// ---- restore state machine ----

export interface RestoreInput {
  readonly from: string;
  readonly to: string;
  readonly selectors?: readonly string[];
  readonly sources?: readonly string[];
  /** Remote-write URL; default from config. */
  readonly target?: string;
  readonly thawTier?: 'Standard' | 'Bulk' | 'Expedited';
  /** Optional run id (e.g. `$$.Execution.Name`); default: derived from the range and the input. */
  readonly executionId?: string;
}

export interface RestoreShardTask {
  readonly runId: string;
  readonly manifestKey: string;
  readonly fromMs: number;
  readonly toMs: number;
  readonly selectors: readonly string[];
  readonly target: string;
}

export interface RestorePlanOutput {
  readonly runId: string;
  readonly planKey: string;
  readonly shardCount: number;
  readonly mode: 'inline' | 's3';
  readonly shards: readonly RestoreShardTask[];
  readonly samples: number;
  readonly storedBytes: number;
  readonly thawTier: 'Standard' | 'Bulk' | 'Expedited';
}

export interface ThawInput {
  readonly runId: string;
  readonly planKey: string;
  readonly thawTier: 'Standard' | 'Bulk' | 'Expedited';
}

export interface ThawOutput {
  readonly runId: string;
  readonly planKey: string;
  readonly thawTier: 'Standard' | 'Bulk' | 'Expedited';
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

export interface ReportInput {
  readonly runId: string;
  readonly planKey: string;
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

/** Handler module names under lambdas/handlers/, also the Task state names in both state machines. */
export const HANDLERS = {
  planBackup: 'PlanBackup',
  backupShard: 'BackupShard',
  commitBackup: 'CommitBackup',
  planRestore: 'PlanRestore',
  thaw: 'Thaw',
  restoreShard: 'RestoreShard',
  report: 'Report',
} as const;
