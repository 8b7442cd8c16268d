/**
 * What `promvault run backup|restore` reports, locally and on AWS alike: built from the outputs
 * of the plan, commit and report states (the state machine's own results), and for a failed
 * backup from the store or, on AWS, from the failure itself.
 */
import { createHash } from 'node:crypto';
import { formatIso } from '../../lambdas/core/time';
import type { BackupPlanOutput, CommitOutput, ReportOutput } from '../../lambdas/handlers/contracts';

/** {errorType, errorMessage} of a Cause written by a Lambda function, or the Cause as the message. */
export function parseLambdaCause(cause: string | undefined): { errorType?: string; errorMessage: string } {
  if (cause === undefined) return { errorMessage: '' };
  try {
    const doc = JSON.parse(cause) as { errorType?: unknown; errorMessage?: unknown };
    if (typeof doc.errorMessage === 'string')
      return {
        ...(typeof doc.errorType === 'string' ? { errorType: doc.errorType } : {}),
        errorMessage: doc.errorMessage,
      };
  } catch {
    // not JSON: a Fail state's Cause
  }
  return { errorMessage: cause };
}

export type RunMode = 'local' | 'aws';
export type RunStatus = 'SUCCEEDED' | 'FAILED';

export interface RunProgress {
  /** Planned shards, once the plan state is done. */
  readonly total?: number;
  readonly done: number;
  readonly failed: number;
  /** What happened last, e.g. "2024-01-01T12:00:00Z/2024-01-01T13:00:00Z committed". */
  readonly detail: string;
}

export interface ShardFailure {
  /** The shard: its window (and selector) for a backup, its manifest key for a restore. */
  readonly shard: string;
  readonly error: string;
  readonly message: string;
}

export interface BackupRunResult {
  readonly mode: RunMode;
  readonly execution: string;
  readonly status: RunStatus;
  readonly source: string;
  readonly run_id: string | null;
  readonly from_ms: number | null;
  readonly to_ms: number | null;
  readonly shards: number;
  readonly committed: number;
  readonly failed: number;
  /** Shards skipped because they were already committed, when known (local runs). */
  readonly skipped?: number;
  /** Samples and bytes of the committed shards of the plan; null when unknown (a failed AWS run). */
  readonly samples: number | null;
  readonly stored_bytes: number | null;
  readonly seconds: number;
  readonly checkpoint_ms: number | null;
  readonly failures: readonly ShardFailure[];
  readonly error?: string;
  readonly message?: string;
}

export interface RestoreRunResult {
  readonly mode: RunMode;
  readonly execution: string;
  readonly status: RunStatus;
  readonly run_id: string | null;
  readonly shards: number;
  readonly restored: number;
  readonly samples: number;
  readonly series: number;
  readonly failed_shards: number;
  readonly report_key: string | null;
  readonly seconds: number;
  readonly failures: readonly ShardFailure[];
  readonly error?: string;
  readonly message?: string;
}

/** Step Functions execution names: 1-80 of [A-Za-z0-9_-] (logging to CloudWatch allows no more). */
const MAX_NAME = 80;
const sanitize = (s: string) => s.replace(/[^A-Za-z0-9_-]/g, '_');
const hash = (v: unknown, n: number) => createHash('sha256').update(JSON.stringify(v)).digest('hex').slice(0, n);

function fit(name: string, input: unknown): string {
  return name.length <= MAX_NAME ? name : `${name.slice(0, MAX_NAME - 9)}-${hash(input, 8)}`;
}

function compactUtc(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/**
 * A deterministic execution name: the same request (source and resolved range, or the same
 * restore input) gets the same name, so repeating it finds the execution instead of starting a
 * second one. A backup without a range (from the checkpoint) is named by the minute it starts.
 */
export function backupExecutionName(
  input: { source: string; from?: string; to?: string; force?: boolean },
  nowMs: number,
): string {
  const range =
    input.from !== undefined || input.to !== undefined
      ? `${input.from === undefined ? 'cp' : compactUtc(Date.parse(input.from))}-${input.to === undefined ? 'lag' : compactUtc(Date.parse(input.to))}`
      : `auto-${compactUtc(Math.floor(nowMs / 60_000) * 60_000)}`;
  return fit(`backup-${sanitize(input.source)}-${range}${input.force ? '-force' : ''}`, input);
}

export function restoreExecutionName(input: { from: string; to: string }): string {
  return fit(
    `restore-${compactUtc(Date.parse(input.from))}-${compactUtc(Date.parse(input.to))}-${hash(input, 10)}`,
    input,
  );
}

/** A shard task (or a caught one, with its `error`) as a short description. */
export function describeShard(item: unknown): string {
  const o = (item ?? {}) as Record<string, unknown>;
  if (typeof o.manifestKey === 'string') return o.manifestKey;
  if (typeof o.startMs === 'number' && typeof o.endMs === 'number')
    return `${formatIso(o.startMs)}/${formatIso(o.endMs)}${typeof o.selector === 'string' && o.selector ? ` ${o.selector}` : ''}`;
  return JSON.stringify(item);
}

/** The failure a caught shard carries in its `error` field (the processor's Catch ResultPath), if any. */
export function caughtFailure(output: unknown): ShardFailure | undefined {
  const o = output as { error?: { Error?: unknown; Cause?: unknown } } | null;
  if (typeof o !== 'object' || o === null || typeof o.error !== 'object' || o.error === null) return undefined;
  const error = typeof o.error.Error === 'string' ? o.error.Error : 'Error';
  const cause = typeof o.error.Cause === 'string' ? o.error.Cause : undefined;
  return { shard: describeShard(o), error, message: parseLambdaCause(cause).errorMessage };
}

export interface BackupOutcome {
  readonly mode: RunMode;
  readonly execution: string;
  readonly status: RunStatus;
  readonly source: string;
  readonly seconds: number;
  readonly plan?: BackupPlanOutput;
  readonly commit?: CommitOutput;
  /** A read-only look at the store after a failed commit (local runs). */
  readonly stored?: {
    committed: number;
    missing: number;
    samples: number;
    storedBytes: number;
    checkpointMs: number | null;
  };
  readonly failures: readonly ShardFailure[];
  readonly skipped?: number;
  readonly error?: string;
  readonly cause?: string;
}

/** ShardsFailedError's message: "N of M shards ... The checkpoint is at <time|(not set yet)>". */
function fromShardsFailedMessage(message: string): { failed?: number; planned?: number; checkpointMs?: number | null } {
  const counts = /^(\d+) of (\d+) shards/.exec(message);
  const cp = /The checkpoint is at (\S+?);/.exec(message);
  const checkpointMs = cp === null ? undefined : cp[1] === '(not' ? null : Date.parse(cp[1]!);
  return {
    ...(counts ? { failed: Number(counts[1]), planned: Number(counts[2]) } : {}),
    ...(checkpointMs !== undefined && !Number.isNaN(checkpointMs) ? { checkpointMs } : {}),
  };
}

export function backupResult(o: BackupOutcome): BackupRunResult {
  const message = o.cause === undefined ? undefined : parseLambdaCause(o.cause).errorMessage;
  const parsed = message === undefined ? {} : fromShardsFailedMessage(message);
  const shards = o.plan?.shardCount ?? o.commit?.planned ?? parsed.planned ?? 0;
  const failed = o.commit?.missing.length ?? o.stored?.missing ?? parsed.failed ?? (o.status === 'FAILED' ? shards : 0);
  const committed = o.commit?.committed ?? o.stored?.committed ?? Math.max(0, shards - failed);
  return {
    mode: o.mode,
    execution: o.execution,
    status: o.status,
    source: o.source,
    run_id: o.plan?.runId ?? o.commit?.runId ?? null,
    from_ms: o.plan?.fromMs ?? null,
    to_ms: o.plan?.toMs ?? null,
    shards,
    committed,
    failed,
    ...(o.skipped !== undefined ? { skipped: o.skipped } : {}),
    samples: o.commit?.samples ?? o.stored?.samples ?? (shards === 0 ? 0 : null),
    stored_bytes: o.commit?.storedBytes ?? o.stored?.storedBytes ?? (shards === 0 ? 0 : null),
    seconds: o.seconds,
    checkpoint_ms: o.commit?.checkpointMs ?? o.stored?.checkpointMs ?? parsed.checkpointMs ?? null,
    failures: o.failures,
    ...(o.error !== undefined ? { error: o.error } : {}),
    ...(message !== undefined ? { message } : {}),
  };
}

export interface RestoreOutcome {
  readonly mode: RunMode;
  readonly execution: string;
  readonly status: RunStatus;
  readonly seconds: number;
  readonly runId?: string;
  readonly report?: ReportOutput;
  readonly failures: readonly ShardFailure[];
  readonly error?: string;
  readonly cause?: string;
}

export function restoreResult(o: RestoreOutcome): RestoreRunResult {
  const r = o.report;
  return {
    mode: o.mode,
    execution: o.execution,
    status: o.status,
    run_id: r?.runId ?? o.runId ?? null,
    shards: r?.shards ?? 0,
    restored: r?.restored ?? 0,
    samples: r?.samples ?? 0,
    series: r?.series ?? 0,
    failed_shards: r?.failed_shards ?? 0,
    report_key: r?.reportKey ?? null,
    seconds: o.seconds,
    failures: o.failures,
    ...(o.error !== undefined ? { error: o.error } : {}),
    ...(o.cause !== undefined ? { message: parseLambdaCause(o.cause).errorMessage } : {}),
  };
}
