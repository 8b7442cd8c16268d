/**
 * The inputs of the state machines and of their Lambda tasks. Each `…Input`/`…Task` type is
 * what a handler receives after parsing (defaults filled in); each `…Sent` type is what a
 * caller may send (defaults may be left out). States carry references (keys, windows,
 * counts), never sample data: Step Functions state is capped at 256 KiB.
 */
import { z } from 'zod';
import { InputError } from '../core/errors';
import { bool, choice, expected, httpUrl, nonEmpty, selector, sourceName, thenCheck, THAW_TIERS } from './fields';
import { keyPath, parseOrThrow } from './issues';

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

/** The federate capture function: deployed only for federate-mode sources, so not one of HANDLERS. */
export const FEDERATE_CAPTURE = 'FederateCapture';

/** Run ids and execution ids become key segments: keep them boring. */
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const RUN_ID_HINT = "1-128 letters, digits, '.', '_' or '-'";
const TIME_MS = 'a time in ms since the epoch (a non-negative integer)';

const runId = () => nonEmpty().regex(RUN_ID, { error: expected(RUN_ID_HINT) });
const timeMs = () => z.int({ error: expected(TIME_MS) }).min(0, { error: expected(TIME_MS) });
/** A key inside the store, never one that climbs out of it. */
const objectKey = () =>
  nonEmpty().refine((k) => !k.startsWith('/') && !k.split('/').some((p) => p === '' || p === '.' || p === '..'), {
    error: expected('a relative object key'),
  });
/** A selector as a task carries it: '' (every series) or a parseable selector. */
const taskSelector = () => selector();
const selectorList = () => z.array(selector(), { error: expected('a list of selector strings') }).default([]);
const thawTier = () => choice(THAW_TIERS);
/** A remote-write URL as a task carries it. */
export const remoteWriteUrl = () =>
  httpUrl({
    example: 'http://prometheus:9090/api/v1/write',
    secretFix: 'put the credentials in the Secrets Manager secret named by restore.targetSecretName',
  });
/** The remote-read URL a verified restore reads back from. */
const verifySourceUrl = () =>
  httpUrl({
    example: 'http://prometheus:9090/api/v1/read',
    secretFix: 'put the credentials in the Secrets Manager secret named by restore.targetSecretName',
  });

/** Fails `field` unless it is after `startField`. */
function after<T extends Record<string, unknown>>(field: keyof T & string, startField: keyof T & string) {
  return (v: T, ctx: z.core.$RefinementCtx<T>) => {
    if ((v[field] as number) <= (v[startField] as number))
      ctx.addIssue({
        code: 'custom',
        path: [field],
        message: `expected a time after ${startField} ${String(v[startField])}, got ${String(v[field])}`,
      });
  };
}

// ---- backup state machine ----

/** Input of an execution (EventBridge Scheduler sends {source}). */
export const backupInputSchema = z.object(
  {
    source: sourceName(),
    /** Explicit range (times as RFC3339, unix seconds or now-…); default: checkpoint → now − lag. */
    from: nonEmpty().optional(),
    to: nonEmpty().optional(),
    force: bool().default(false),
    /** Optional run id (e.g. `$$.Execution.Name`); default: `<source>-<fromMs>-<toMs>` of the planned range. */
    executionId: runId().optional(),
  },
  { error: expected('a JSON object') },
);

/** One shard to back up: the item of the backup Map. */
export const backupShardTaskSchema = thenCheck(
  z.object(
    {
      source: sourceName(),
      startMs: timeMs(),
      endMs: timeMs(),
      /** Canonical selector, '' for every series. */
      selector: taskSelector().default(''),
      force: bool().default(false),
    },
    { error: expected('a JSON object') },
  ),
  after('endMs', 'startMs'),
);

/** Commit reads the manifests (the source of truth), not the Map's results. */
export const commitInputSchema = z.object(
  {
    source: sourceName(),
    runId: runId(),
    planKey: objectKey(),
    /** BackupPlanOutput.plannedAtMs; when given, Commit emits DurationSeconds = now − plannedAtMs. */
    plannedAtMs: timeMs().optional(),
  },
  { error: expected('a JSON object') },
);

// ---- restore state machine ----

export const restoreInputSchema = z.object(
  {
    from: nonEmpty(),
    to: nonEmpty(),
    selectors: selectorList(),
    sources: z.array(sourceName(), { error: expected('a list of source names') }).default([]),
    /** Remote-write URL; default from config. */
    target: remoteWriteUrl().optional(),
    thawTier: thawTier().optional(),
    /** Optional run id (e.g. `$$.Execution.Name`); default: derived from the range and the input. */
    executionId: runId().optional(),
    /** After writing, read the range back from the target and compare it with the backup. */
    verify: bool().default(false),
    /** Where to read the restored range back from; default: the target's own remote-read endpoint. */
    verifySource: verifySourceUrl().optional(),
  },
  { error: expected('a JSON object') },
);

export const thawInputSchema = z.object(
  { runId: runId(), planKey: objectKey(), thawTier: thawTier() },
  { error: expected('a JSON object') },
);

/** A part of a shard's window one read writes; series matching a `skip` selector come from another shard there. */
const shardPart = () =>
  thenCheck(
    z.object(
      {
        startMs: timeMs(),
        endMs: timeMs(),
        skip: z.array(selector(), { error: expected('a list of selectors') }).readonly(),
      },
      { error: expected('a JSON object') },
    ),
    (v, ctx) => {
      if (v.endMs < v.startMs)
        ctx.addIssue({ code: 'custom', path: ['endMs'], message: `expected a time not before startMs ${v.startMs}` });
    },
  );

/**
 * Where shards overlap, what one read of a shard writes (lambdas/core/restore/coverage.ts
 * ShardSlice): bounds and selectors only, so the task stays small.
 */
const shardSlice = () =>
  z.object(
    {
      part: shardPart(),
      countOutside: z
        .array(shardPart(), { error: expected('a list of parts') })
        .readonly()
        .optional(),
    },
    { error: expected('a JSON object') },
  );

export const restoreShardTaskSchema = thenCheck(
  z.object(
    {
      runId: runId(),
      manifestKey: objectKey(),
      fromMs: timeMs(),
      toMs: timeMs(),
      selectors: selectorList(),
      target: remoteWriteUrl(),
      verify: bool().default(false),
      verifySource: verifySourceUrl().optional(),
      /** Set where the shard overlaps others: the part of it this task writes. */
      slice: shardSlice().optional(),
    },
    { error: expected('a JSON object') },
  ),
  after('toMs', 'fromMs'),
);

export const reportInputSchema = z.object(
  { runId: runId(), planKey: objectKey() },
  { error: expected('a JSON object') },
);

/** What the schedule sends the FederateCapture function: the federate-mode source to capture. */
export const federateCaptureInputSchema = z.object({ source: sourceName() }, { error: expected('a JSON object') });

export type BackupInput = z.output<typeof backupInputSchema>;
export type BackupInputSent = z.input<typeof backupInputSchema>;
export type BackupShardTask = z.output<typeof backupShardTaskSchema>;
export type CommitInput = z.output<typeof commitInputSchema>;
export type RestoreInput = z.output<typeof restoreInputSchema>;
export type RestoreInputSent = z.input<typeof restoreInputSchema>;
export type ThawInput = z.output<typeof thawInputSchema>;
export type RestoreShardTask = z.output<typeof restoreShardTaskSchema>;
export type RestoreShardTaskSent = z.input<typeof restoreShardTaskSchema>;
export type ReportInput = z.output<typeof reportInputSchema>;
export type FederateCaptureInput = z.output<typeof federateCaptureInputSchema>;

/** Parses a task's input (`event`), or throws InputError naming the field: `invalid input: field endMs: …`. */
export type Validator<T> = (event: unknown) => T;

function validator<S extends z.ZodType>(schema: S): Validator<z.output<S>> {
  return (event) =>
    parseOrThrow(
      schema,
      event,
      (path) => `invalid input: field ${path.length === 0 ? '(input)' : keyPath(path)}`,
      (message) => new InputError(message),
    );
}

export const validateBackupInput = validator(backupInputSchema);
export const validateBackupShardTask = validator(backupShardTaskSchema);
export const validateCommitInput = validator(commitInputSchema);
export const validateRestoreInput = validator(restoreInputSchema);
export const validateThawInput = validator(thawInputSchema);
export const validateRestoreShardTask = validator(restoreShardTaskSchema);
export const validateReportInput = validator(reportInputSchema);
export const validateFederateCaptureInput = validator(federateCaptureInputSchema);

/** A remote-write URL from elsewhere (e.g. the config's restore.targetUrl), `field` naming it. */
export function checkRemoteWriteUrl(field: string, url: string): string {
  return parseOrThrow(
    remoteWriteUrl(),
    url,
    () => `invalid input: field ${field}`,
    (m) => new InputError(m),
  );
}
