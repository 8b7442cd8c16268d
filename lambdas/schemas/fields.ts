/**
 * lambdas/schemas: one schema per input (cdk.json context, PROMVAULT_CONFIG, state-machine task
 * input, `promvault run` input), and the TypeScript types derived from them. zod rather than
 * hand-written readers: the types come from the schemas, so they cannot drift apart; schemas
 * compose (a URL or a selector is checked the same way in every input); and every failure is a
 * zod issue with a path, turned into a message in one place (issues.ts). Pure: no AWS SDK, no
 * environment, no I/O.
 *
 * This file: the building blocks every schema shares, each enum defined once (or re-exported
 * from the core that uses it), and field schemas that word their own problem: the bad value
 * and what to write instead.
 */
import { z } from 'zod';
import { validateShardLength } from '../core/backup/plan';
import { PromvaultError } from '../core/errors';
import { formatSelector, parseSelector } from '../core/prom/selector';
import { validateSourceName } from '../core/shard';
import { parseDuration } from '../core/time';
import { redactUserInfo, show } from './issues';

export { THAW_TIERS, type ThawTier } from '../core/restore/thaw';
export {
  REPLICA_MODES,
  defaultReplicaMode,
  type ReplicaMode,
  SOURCE_MODES,
  type SourceMode,
  DEFAULT_MAX_SAMPLES_PER_QUERY,
} from '../core/types';
export const ARCHIVE_CLASSES = ['GLACIER', 'DEEP_ARCHIVE'] as const;
export type ArchiveClass = (typeof ARCHIVE_CLASSES)[number];
export const OBJECT_LOCK_MODES = ['GOVERNANCE', 'COMPLIANCE'] as const;
export const STATE_MACHINE_LOG_LEVELS = ['ALL', 'ERROR'] as const;

/** An error map for a schema: `is missing: expected X` or `expected X, got <value>`. */
export function expected(what: string): (issue: { input?: unknown }) => string {
  return (issue) =>
    issue.input === undefined ? `is missing: expected ${what}` : `expected ${what}, got ${show(issue.input)}`;
}

/** null in JSON means "not given", like a missing key. */
const nullAsMissing = (v: unknown) => (v === null ? undefined : v);

/** An optional value: missing or null gives undefined. */
export function maybe<S extends z.ZodType>(schema: S) {
  return z.preprocess(nullAsMissing, schema.optional());
}

/** A value with a default; missing or null gives `fallback` (parsed, so '1h' becomes ms). */
export function withDefault<S extends z.ZodType>(schema: S, fallback: z.input<S>) {
  return z.preprocess(nullAsMissing, schema.prefault(fallback as never));
}

/** An object that refuses keys it does not know: a typo must not fall back to a default silently. */
export function strict<T extends z.core.$ZodLooseShape>(shape: T) {
  const known = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown key ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}: the known keys are ${known}`
        : undefined,
  });
}

/** Checks that need the whole object (one field against another) run once its fields are valid. */
export function thenCheck<S extends z.ZodType>(
  schema: S,
  check: (value: z.output<S>, ctx: z.core.$RefinementCtx<z.output<S>>) => void,
) {
  return schema.pipe(z.custom<z.output<S>>().superRefine(check));
}

export const text = (what = 'a string') => z.string({ error: expected(what) });

/** A string with something in it. */
export const nonEmpty = (what = 'a non-empty string') =>
  text(what).refine((s) => s.trim() !== '', { error: expected(what) });

export const wholeNumber = (min: number, max: number) => {
  const what = `a whole number from ${min} to ${max}`;
  return z
    .int({ error: expected(what) })
    .min(min, { error: expected(what) })
    .max(max, { error: expected(what) });
};

export const bool = () => z.boolean({ error: expected('true or false') });

/** A string matching `pattern`; `hint` says what a valid one looks like. */
export const matching = (pattern: RegExp, hint: string) =>
  text().regex(pattern, { error: (issue) => `${show(issue.input)} is not valid: ${hint}` });

/** One of `values`, in any letter case; the value comes back spelt as in `values`. */
export function choice<const T extends readonly string[]>(values: T) {
  return text().transform((s, ctx): T[number] => {
    const found = values.find((c) => c.toLowerCase() === s.toLowerCase());
    if (found === undefined) ctx.addIssue({ code: 'custom', message: `${show(s)} is not one of ${values.join(', ')}` });
    return found ?? z.NEVER;
  });
}

/**
 * The message of a core validator's InputError without its leading `invalid <name> ` (the
 * subject already names the key); anything else is a bug and is rethrown.
 */
function coreProblem(err: unknown, keepSubject: boolean): string {
  if (!(err instanceof PromvaultError)) throw err;
  return keepSubject ? err.message : err.message.replace(/^invalid \S+ /, '');
}

/** Runs a core validator (which throws InputError) as a transform. */
function viaCore<I, O>(parse: (value: I) => O, keepSubject = false) {
  return (value: I, ctx: z.core.$RefinementCtx<I>): O => {
    try {
      return parse(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: coreProblem(err, keepSubject) });
      return z.NEVER;
    }
  };
}

/** A Prometheus duration (`30s`, `5m`, `1h30m`), in ms. */
export const duration = () =>
  text('a duration such as 30s, 5m or 1h').transform(viaCore((s) => parseDuration(s, 'duration')));

/** A shard length in ms: whole minutes that divide a day. */
export const shardLengthMs = () =>
  wholeNumber(1, Number.MAX_SAFE_INTEGER).transform(viaCore((ms) => validateShardLength(ms, 'shardLength')));

/** A shard length written as a duration (`1h`). */
export const shardLength = () => duration().transform(viaCore((ms) => validateShardLength(ms, 'shardLength')));

/** A source name: it becomes a segment of object keys. */
export const sourceName = () => text('a source name').transform(viaCore(validateSourceName, true));

/** A PromQL series selector, kept as written ('' selects every series). */
export const selector = () =>
  text('a series selector such as {job="api"}').transform(
    viaCore((s: string) => {
      parseSelector(s);
      return s;
    }, true),
  );

/** A selector in canonical form, so shard keys do not depend on how it was typed. */
export const canonicalSelector = () =>
  text('a series selector such as {job="api"}').transform(
    viaCore((s: string) => formatSelector(parseSelector(s)), true),
  );

/** A Prometheus label name (the classic charset, which every remote-read and remote-write peer accepts). */
export const labelName = () =>
  text('a label name such as prometheus_replica')
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, {
      error: (issue) =>
        `${show(issue.input)} is not a label name: use letters, digits and _, not starting with a digit (e.g. prometheus_replica)`,
    })
    .refine((s) => s !== '__name__', { error: '"__name__" is the metric name, not a replica label: remove it' });

const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
export const secretName = () => matching(SECRET_NAME, 'use a Secrets Manager secret name');

/**
 * An http(s) URL, kept as written. A URL with user info is refused: URLs travel in templates,
 * environment variables, logs and state-machine history, and `secretFix` says where the
 * credentials go instead. Messages show the URL with its user info as `***`.
 */
export function httpUrl(options: { example: string; secretFix: string }) {
  return text('an http(s) URL').transform((s, ctx) => {
    let url: URL | undefined;
    try {
      url = new URL(s);
    } catch {
      url = undefined;
    }
    const shown = redactUserInfo(s);
    const fail = (message: string) => {
      ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    };
    // Checked before parsing succeeds: an unparsable URL can still hold a password.
    if (url === undefined ? /:\/\/[^\s]*@/.test(s) : url.username !== '' || url.password !== '')
      return fail(
        `${show(s)} has a user name or password in it (shown as ***); a URL is kept in templates, logs and ` +
          `state-machine history: remove it and ${options.secretFix}`,
      );
    if (url === undefined) return fail(`${show(s)} is not a URL: write it in full, e.g. ${options.example}`);
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      return fail(`${shown} must be an http:// or https:// URL`);
    return s;
  });
}

/** Query mode's sample budget per answer (see adapters/prometheus-query.ts). */
export const maxSamplesPerQuery = () => wholeNumber(1000, 1_000_000_000);

/** The path Prometheus serves remote read under; a query-mode URL must not end in it. */
export const REMOTE_READ_PATH = '/api/v1/read';

export function isRemoteReadUrl(url: string): boolean {
  return new URL(url).pathname.replace(/\/+$/, '').endsWith(REMOTE_READ_PATH);
}

/** A base URL as the remote-read URL under it (kept when it already is one). */
export function toRemoteReadUrl(s: string): string {
  const url = new URL(s);
  if (!url.pathname.endsWith(REMOTE_READ_PATH)) url.pathname = url.pathname.replace(/\/$/, '') + REMOTE_READ_PATH;
  return url.toString();
}

/** An AWS region name: us-east-1, eu-central-2, us-gov-west-1, cn-north-1. */
export const AWS_REGION_RE = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;

/** A SigV4 signing name (the service in the credential scope). */
export const SIGV4_SERVICE_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** The region and workspace of an Amazon Managed Prometheus URL; undefined for any other host. */
export function ampWorkspaceOf(url: string): { region: string; workspaceId?: string } | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  const host = /^aps-workspaces(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/.exec(parsed.hostname);
  if (!host) return undefined;
  const workspace = /^\/workspaces\/(ws-[A-Za-z0-9-]+)(?:\/|$)/.exec(parsed.pathname);
  return { region: host[1]!, ...(workspace ? { workspaceId: workspace[1]! } : {}) };
}

/**
 * What is wrong with SigV4 settings for `url`, or undefined: an AMP URL must name its workspace
 * (/workspaces/ws-…/) and be signed for its own region. `flag` names the region setting.
 */
export function sigv4Problem(url: string, region: string | undefined, flag: string): string | undefined {
  const amp = ampWorkspaceOf(url);
  if (amp === undefined) return undefined;
  const shown = redactUserInfo(url);
  if (amp.workspaceId === undefined)
    return `${shown} is an Amazon Managed Prometheus URL without a workspace id: use https://aps-workspaces.${amp.region}.amazonaws.com/workspaces/ws-…/api/v1/… (the workspace's endpoint, shown in the AMP console)`;
  if (region === undefined)
    return `${shown} is Amazon Managed Prometheus, which only accepts SigV4-signed requests: set ${flag} ${amp.region}`;
  if (region !== amp.region)
    return `${flag} ${region} does not match the workspace's region ${amp.region} in ${shown}: set ${flag} ${amp.region}`;
  return undefined;
}

/** The SigV4 settings of a source or a target: `{ region, service? }`. */
export const sigv4Settings = () =>
  strict({
    region: matching(AWS_REGION_RE, 'use an AWS region name such as us-east-1'),
    service: withDefault(matching(SIGV4_SERVICE_RE, 'use a SigV4 service name such as aps'), 'aps'),
  });
