/**
 * Hand-written validators for the state machine payloads in contracts.ts. Each throws an
 * InputError naming the field and what it should hold, before any work starts.
 */
import { InputError } from '../core/errors';
import { parseSelector } from '../core/prom/selector';
import { validateSourceName } from '../core/shard';
import type {
  BackupInput,
  BackupShardTask,
  CommitInput,
  ReportInput,
  RestoreInput,
  RestoreShardTask,
  ThawInput,
} from './contracts';

type Obj = Record<string, unknown>;
export type Validator<T> = (event: unknown) => T;

const THAW_TIERS = ['Standard', 'Bulk', 'Expedited'] as const;
type ThawTier = (typeof THAW_TIERS)[number];
/** Run ids and execution ids become key segments: keep them boring. */
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

function bad(field: string, value: unknown, expected: string): InputError {
  return new InputError(
    `invalid input: field ${field} is ${value === undefined ? 'missing' : JSON.stringify(value)}: expected ${expected}`,
  );
}

function object(event: unknown): Obj {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) throw bad('(input)', event, 'a JSON object');
  return event as Obj;
}

function str(o: Obj, field: string): string {
  const v = o[field];
  if (typeof v !== 'string' || v.trim() === '') throw bad(field, v, 'a non-empty string');
  return v;
}

function optStr(o: Obj, field: string): string | undefined {
  return o[field] === undefined ? undefined : str(o, field);
}

function int(o: Obj, field: string): number {
  const v = o[field];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw bad(field, v, 'a time in ms since the epoch (a non-negative integer)');
  return v;
}

function bool(o: Obj, field: string, fallback: boolean): boolean {
  const v = o[field] ?? fallback;
  if (typeof v !== 'boolean') throw bad(field, v, 'true or false');
  return v;
}

function strArray(o: Obj, field: string): string[] | undefined {
  const v = o[field];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw bad(field, v, 'an array of strings');
  return v as string[];
}

function runId(o: Obj, field: string): string {
  const v = str(o, field);
  if (!RUN_ID.test(v)) throw bad(field, v, "1-128 letters, digits, '.', '_' or '-'");
  return v;
}

function optRunId(o: Obj, field: string): string | undefined {
  return o[field] === undefined ? undefined : runId(o, field);
}

function key(o: Obj, field: string): string {
  const v = str(o, field);
  if (v.startsWith('/') || v.split('/').some((p) => p === '' || p === '.' || p === '..'))
    throw bad(field, v, 'a relative object key');
  return v;
}

function source(o: Obj, field: string, v = str(o, field)): string {
  try {
    return validateSourceName(v);
  } catch (err) {
    throw new InputError(`invalid input: field ${field}: ${(err as Error).message}`);
  }
}

/** A selector as stored in a task: '' or a parseable selector. */
export function selectorField(field: string, text: string): string {
  if (text === '') return text;
  try {
    parseSelector(text);
  } catch (err) {
    throw new InputError(`invalid input: field ${field}: ${(err as Error).message}`);
  }
  return text;
}

function thawTier(o: Obj, field: string): ThawTier | undefined {
  const v = o[field];
  if (v === undefined) return undefined;
  if (!(THAW_TIERS as readonly unknown[]).includes(v)) throw bad(field, v, THAW_TIERS.join(', '));
  return v as ThawTier;
}

/** A URL that a remote write may go to; `field` names it in the message. */
export function httpUrl(field: string, text: string): string {
  try {
    const url = new URL(text);
    if (url.protocol === 'http:' || url.protocol === 'https:') return text;
  } catch {
    // fall through
  }
  throw bad(field, text, 'an http(s) remote-write URL, e.g. http://prometheus:9090/api/v1/write');
}

export const validateBackupInput: Validator<BackupInput> = (event) => {
  const o = object(event);
  const from = optStr(o, 'from');
  const to = optStr(o, 'to');
  const executionId = optRunId(o, 'executionId');
  return {
    source: source(o, 'source'),
    ...(from !== undefined ? { from } : {}),
    ...(to !== undefined ? { to } : {}),
    force: bool(o, 'force', false),
    ...(executionId !== undefined ? { executionId } : {}),
  };
};

export const validateBackupShardTask: Validator<BackupShardTask> = (event) => {
  const o = object(event);
  const startMs = int(o, 'startMs');
  const endMs = int(o, 'endMs');
  if (endMs <= startMs) throw bad('endMs', endMs, `a time after startMs ${startMs}`);
  const selector = o['selector'] ?? '';
  if (typeof selector !== 'string') throw bad('selector', selector, "a selector string ('' for every series)");
  return {
    source: source(o, 'source'),
    startMs,
    endMs,
    selector: selectorField('selector', selector),
    force: bool(o, 'force', false),
  };
};

export const validateCommitInput: Validator<CommitInput> = (event) => {
  const o = object(event);
  const plannedAtMs = o['plannedAtMs'] === undefined ? undefined : int(o, 'plannedAtMs');
  return {
    source: source(o, 'source'),
    runId: runId(o, 'runId'),
    planKey: key(o, 'planKey'),
    ...(plannedAtMs !== undefined ? { plannedAtMs } : {}),
  };
};

export const validateRestoreInput: Validator<RestoreInput> = (event) => {
  const o = object(event);
  const selectors = (strArray(o, 'selectors') ?? []).map((s, i) => selectorField(`selectors[${i}]`, s));
  const sources = (strArray(o, 'sources') ?? []).map((s, i) => source(o, `sources[${i}]`, s));
  const target = optStr(o, 'target');
  const tier = thawTier(o, 'thawTier');
  const executionId = optRunId(o, 'executionId');
  return {
    from: str(o, 'from'),
    to: str(o, 'to'),
    selectors,
    sources,
    ...(target !== undefined ? { target: httpUrl('target', target) } : {}),
    ...(tier !== undefined ? { thawTier: tier } : {}),
    ...(executionId !== undefined ? { executionId } : {}),
  };
};

export const validateThawInput: Validator<ThawInput> = (event) => {
  const o = object(event);
  const tier = thawTier(o, 'thawTier');
  if (tier === undefined) throw bad('thawTier', undefined, THAW_TIERS.join(', '));
  return { runId: runId(o, 'runId'), planKey: key(o, 'planKey'), thawTier: tier };
};

export const validateRestoreShardTask: Validator<RestoreShardTask> = (event) => {
  const o = object(event);
  const fromMs = int(o, 'fromMs');
  const toMs = int(o, 'toMs');
  if (toMs <= fromMs) throw bad('toMs', toMs, `a time after fromMs ${fromMs}`);
  return {
    runId: runId(o, 'runId'),
    manifestKey: key(o, 'manifestKey'),
    fromMs,
    toMs,
    selectors: (strArray(o, 'selectors') ?? []).map((s, i) => selectorField(`selectors[${i}]`, s)),
    target: httpUrl('target', str(o, 'target')),
  };
};

export const validateReportInput: Validator<ReportInput> = (event) => {
  const o = object(event);
  return { runId: runId(o, 'runId'), planKey: key(o, 'planKey') };
};
