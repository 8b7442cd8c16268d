/**
 * The runtime configuration of every Lambda: JSON in the PROMVAULT_CONFIG variable, written by
 * the CDK stack (cdk-config.ts, toRuntimeConfig). Keys at their default may be left out, which
 * keeps the variable small: Lambda allows 4 KiB of environment in total.
 */
import { z } from 'zod';
import { InputError } from '../core/errors';
import { DEFAULT_GC_GRACE_MS } from '../core/gc';
import {
  canonicalSelector,
  choice,
  defaultReplicaMode,
  expected,
  httpUrl,
  labelName,
  maxSamplesPerQuery,
  nonEmpty,
  REPLICA_MODES,
  shardLengthMs,
  sigv4Settings,
  SOURCE_MODES,
  sourceName,
  text,
  thenCheck,
  THAW_TIERS,
  wholeNumber,
} from './fields';
import { keyPath, parseOrThrow } from './issues';

export const CONFIG_VARIABLE = 'PROMVAULT_CONFIG';

/** Values used when the JSON leaves an optional key out. */
export const CONFIG_DEFAULTS = {
  prefix: '',
  inlinePlanLimit: 500,
  restore: { concurrency: 4, batchSamples: 5000, thawTier: 'Bulk', thawDays: 7 },
} as const;

const DAY_MS = 86_400_000;
const SECRET_FIX = 'put the credentials in the Secrets Manager secret named by credentialsSecretName';
const optionalName = () => nonEmpty('a name (leave the key out for none)').optional();

const runtimeSourceSchema = z
  .object(
    {
      name: sourceName(),
      /** How the source is read; default remote-read. */
      mode: choice(SOURCE_MODES).optional(),
      /** Remote-read mode: remote-read URLs, the primary, then its HA replicas. */
      remoteReadUrls: urlList('remote-read', 'http://prometheus:9090/api/v1/read'),
      /** Query mode: query API base URLs, the primary, then its HA replicas. */
      queryUrls: urlList('query API base', 'http://thanos-query:9090'),
      /** Query mode: most samples one query answer is planned to hold. */
      maxSamplesPerQuery: maxSamplesPerQuery().optional(),
      /** How replicas are read; default merge with two or more URLs. */
      replicaMode: choice(REPLICA_MODES).optional(),
      /** Labels that tell replicas apart, dropped before their series are merged. */
      replicaLabels: z.array(labelName(), { error: expected('a list of label names') }).default([]),
      // Canonical selectors, so shard keys do not depend on how the selector was typed.
      selectors: z.array(canonicalSelector(), { error: expected('a list of selectors') }).default([]),
      /** Secrets Manager secret with {"username","password"} or {"bearerToken"} or {"headers":{...}}. */
      credentialsSecretName: optionalName(),
      /** Sign every request with SigV4 (Amazon Managed Prometheus). */
      sigv4: sigv4Settings().optional(),
      shardLengthMs: shardLengthMs(),
      /** Never back up windows closer to now than this: the source may still be ingesting them. */
      lagMs: wholeNumber(0, 366 * DAY_MS),
      /** Where the very first run starts when there is no checkpoint yet. */
      initialLookbackMs: wholeNumber(1, 100 * 366 * DAY_MS),
    },
    { error: expected('an object') },
  )
  .transform(({ replicaMode, mode = 'remote-read', remoteReadUrls, queryUrls, ...s }, ctx) => {
    const [key, urls, other] =
      mode === 'query'
        ? (['queryUrls', queryUrls, 'remoteReadUrls'] as const)
        : (['remoteReadUrls', remoteReadUrls, 'queryUrls'] as const);
    const fail = (path: string, message: string) => {
      ctx.addIssue({ code: 'custom', path: [path], message });
      return z.NEVER;
    };
    if (urls === undefined) return fail(key, `is missing: mode ${mode} reads from the URLs listed here`);
    if ((mode === 'query' ? remoteReadUrls : queryUrls) !== undefined)
      return fail(other, `is not for mode ${mode}: list the source's URLs in ${key}`);
    if (mode !== 'query' && s.maxSamplesPerQuery !== undefined)
      return fail('maxSamplesPerQuery', 'is for mode query only');
    return {
      ...s,
      mode,
      ...(mode === 'query' ? {} : { remoteReadUrls: urls }),
      ...(mode === 'query' ? { queryUrls: urls } : {}),
      replicaMode: replicaMode ?? defaultReplicaMode(urls.length),
    };
  });

/** A federate-mode source: captured from `url`/federate by the FederateCapture function. */
const runtimeFederateSourceSchema = z.object(
  {
    name: sourceName(),
    /** The Prometheus base URL serving /federate. */
    url: httpUrl({ example: 'http://prometheus:9090', secretFix: SECRET_FIX }),
    /** Time between two /federate fetches. */
    intervalMs: wholeNumber(1000, 60_000),
    selectors: z.array(canonicalSelector(), { error: expected('a list of selectors') }).default([]),
    credentialsSecretName: optionalName(),
    shardLengthMs: shardLengthMs(),
  },
  { error: expected('an object') },
);

function urlList(what: string, example: string) {
  return z
    .array(httpUrl({ example, secretFix: SECRET_FIX }), { error: expected(`a list of ${what} URLs`) })
    .min(1, { error: `is empty: list at least one ${what} URL` })
    .optional();
}

export const runtimeConfigSchema = thenCheck(
  z.object(
    {
      bucket: nonEmpty("the backup bucket's name"),
      /** Key prefix inside the bucket, '' for the root. */
      prefix: text()
        .default(CONFIG_DEFAULTS.prefix)
        .transform((p) =>
          p
            .split('/')
            .filter((s) => s !== '')
            .join('/'),
        ),
      sources: z.array(runtimeSourceSchema, { error: expected('a list of sources') }),
      /** Federate-mode sources (never backed up by the state machine). */
      federateSources: z
        .array(runtimeFederateSourceSchema, { error: expected('a list of federate sources') })
        .default([]),
      restore: z
        .object(
          {
            targetUrl: httpUrl({
              example: 'http://prometheus:9090/api/v1/write',
              secretFix: 'put the credentials in the Secrets Manager secret named by targetSecretName',
            }).optional(),
            targetSecretName: optionalName(),
            /** Sign remote writes (and the read-back) to targetUrl's origin with SigV4. */
            sigv4: sigv4Settings().optional(),
            concurrency: wholeNumber(1, 64).default(CONFIG_DEFAULTS.restore.concurrency),
            batchSamples: wholeNumber(1, 1_000_000).default(CONFIG_DEFAULTS.restore.batchSamples),
            thawTier: choice(THAW_TIERS).default(CONFIG_DEFAULTS.restore.thawTier),
            thawDays: wholeNumber(1, 365).default(CONFIG_DEFAULTS.restore.thawDays),
          },
          { error: expected('an object') },
        )
        .prefault({}),
      /** Plans with more shards than this go to S3 and run through a Distributed Map. */
      inlinePlanLimit: wholeNumber(0, 10_000).default(CONFIG_DEFAULTS.inlinePlanLimit),
      /** CommitBackup deletes leftovers of its source older than this (core/gc.ts). */
      gcGraceMs: wholeNumber(0, 366 * DAY_MS).default(DEFAULT_GC_GRACE_MS),
    },
    { error: expected('a JSON object') },
  ),
  (config, ctx) => {
    const seen = new Set<string>();
    for (const key of ['sources', 'federateSources'] as const)
      config[key].forEach((s, i) => {
        if (seen.has(s.name))
          ctx.addIssue({
            code: 'custom',
            path: [key, i, 'name'],
            message: `${s.name} is used twice: names must be unique`,
          });
        seen.add(s.name);
      });
  },
);

export type RuntimeConfig = z.output<typeof runtimeConfigSchema>;
export type RuntimeSource = RuntimeConfig['sources'][number];
export type RuntimeFederateSource = RuntimeConfig['federateSources'][number];

/** The URLs a source is read from, primary first: remote-read URLs, or query API base URLs in query mode. */
export function sourceUrls(source: RuntimeSource): readonly string[] {
  return (source.mode === 'query' ? source.queryUrls : source.remoteReadUrls) ?? [];
}
/** The JSON the CDK stack writes; keys at their default may be left out. */
export type RuntimeConfigSent = z.input<typeof runtimeConfigSchema>;

/** Parses the JSON text of PROMVAULT_CONFIG; throws InputError naming the key that is wrong. */
export function parseRuntimeConfig(json: string | undefined): RuntimeConfig {
  if (json === undefined || json.trim() === '') {
    throw new InputError(
      `${CONFIG_VARIABLE} is not set: the CDK stack sets it on every function; set it to the runtime config JSON`,
    );
  }
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (err) {
    throw new InputError(`${CONFIG_VARIABLE} is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  return parseOrThrow(
    runtimeConfigSchema,
    doc,
    (path) => `invalid ${CONFIG_VARIABLE}: ${path.length === 0 ? '(the whole value)' : keyPath(path)}`,
    (message) => new InputError(message),
  );
}
