/**
 * What `promvault run backup|restore` (and its programmatic API) is asked to do, parsed into
 * the state machine's input. Errors name the flag (`--from`, `--target`), as the user typed it.
 */
import { z } from 'zod';
import { InputError } from '../core/errors';
import { formatIso, parseTime } from '../core/time';
import { bool, choice, expected, httpUrl, selector, sourceName, thenCheck, THAW_TIERS } from './fields';
import { parseOrThrow } from './issues';
import type { BackupInputSent, RestoreInputSent } from './tasks';

/** A time as the RFC3339 text the execution input carries; numbers are ms since the epoch. */
const time = (nowMs: number) =>
  z
    .union([z.string(), z.number()], { error: expected('a time: RFC3339, unix seconds or now-6h') })
    .transform((value, ctx) => {
      if (typeof value === 'number') {
        if (Number.isSafeInteger(value) && value >= 0) return formatIso(value);
        ctx.addIssue({ code: 'custom', message: `${value} is not a time in ms` });
        return z.NEVER;
      }
      try {
        return formatIso(parseTime(value, nowMs, 'time'));
      } catch (err) {
        if (!(err instanceof InputError)) throw err;
        ctx.addIssue({ code: 'custom', message: err.message.replace(/^invalid time:? /, '') });
        return z.NEVER;
      }
    });

/** Fails unless from < to, when both are given. */
function ordered(v: { from?: string; to?: string }, ctx: z.core.$RefinementCtx<{ from?: string; to?: string }>) {
  if (v.from !== undefined && v.to !== undefined && Date.parse(v.from) >= Date.parse(v.to))
    ctx.addIssue({
      code: 'custom',
      path: ['from'],
      message: `${v.from} is not before --to ${v.to}: swap them or widen the range`,
    });
}

const REMOTE_WRITE_EXAMPLE = 'http://prometheus:9090/api/v1/write';
const TARGET_SECRET_FIX =
  'give the credentials in --secrets-file under the name of restore.targetSecretName (a Secrets Manager secret on AWS)';

export const backupRequestSchema = (nowMs: number) =>
  thenCheck(
    z.object({
      sourceName: sourceName(),
      from: time(nowMs).optional(),
      to: time(nowMs).optional(),
      force: bool().optional(),
    }),
    ordered,
  ).transform((r): BackupInputSent => ({
    source: r.sourceName,
    ...(r.from !== undefined ? { from: r.from } : {}),
    ...(r.to !== undefined ? { to: r.to } : {}),
    ...(r.force ? { force: true } : {}),
  }));

export const restoreRequestSchema = (nowMs: number) =>
  thenCheck(
    z.object({
      from: time(nowMs),
      to: time(nowMs),
      match: z.array(selector(), { error: expected('a list of selectors') }).optional(),
      sourceNames: z.array(sourceName(), { error: expected('a list of source names') }).optional(),
      target: httpUrl({ example: REMOTE_WRITE_EXAMPLE, secretFix: TARGET_SECRET_FIX }).optional(),
      thawTier: choice(THAW_TIERS).optional(),
      verify: bool().optional(),
      verifySource: httpUrl({ example: 'http://prometheus:9090/api/v1/read', secretFix: TARGET_SECRET_FIX }).optional(),
    }),
    ordered,
  ).transform((r): RestoreInputSent => ({
    from: r.from,
    to: r.to,
    ...(r.match !== undefined && r.match.length > 0 ? { selectors: r.match } : {}),
    ...(r.sourceNames !== undefined && r.sourceNames.length > 0 ? { sources: r.sourceNames } : {}),
    ...(r.target !== undefined ? { target: r.target } : {}),
    ...(r.thawTier !== undefined ? { thawTier: r.thawTier } : {}),
    ...(r.verify ? { verify: true } : {}),
    ...(r.verifySource !== undefined ? { verifySource: r.verifySource } : {}),
  }));

export type BackupRequest = z.input<ReturnType<typeof backupRequestSchema>>;
export type RestoreRequest = z.input<ReturnType<typeof restoreRequestSchema>>;

const FLAGS: Record<string, string> = {
  sourceName: '--source-name',
  sourceNames: '--source-name',
  from: '--from',
  to: '--to',
  force: '--force',
  match: '--match',
  target: '--target',
  thawTier: '--thaw-tier',
  verify: '--verify',
  verifySource: '--verify-source',
};

/** `--match` for match[1]: the flag is what the user typed, repeated. */
const flagOf = (path: readonly PropertyKey[]) => {
  const key = String(path[0] ?? '');
  return FLAGS[key] ?? key;
};

/** Parses a run request with its flags named in errors; throws InputError. */
export function parseRunRequest<S extends z.ZodType>(schema: S, request: unknown): z.output<S> {
  return parseOrThrow(schema, request, flagOf, (message) => new InputError(message));
}
