/**
 * The `promvault` context of cdk.json: its schema, its defaults (docs/DEPLOY.md documents every
 * key) and its mapping to the runtime configuration of the functions. Unknown keys are refused:
 * a typo must not silently fall back to a default.
 */
import { z } from 'zod';
import { DEFAULT_GC_GRACE_MS } from '../core/gc';
import { formatDuration } from '../core/time';
import {
  ARCHIVE_CLASSES,
  choice,
  defaultReplicaMode,
  duration,
  expected,
  httpUrl,
  isRemoteReadUrl,
  labelName,
  maxSamplesPerQuery,
  matching,
  maybe,
  OBJECT_LOCK_MODES,
  REPLICA_MODES,
  secretName,
  selector,
  sigv4Problem,
  sigv4Settings,
  shardLength,
  SOURCE_MODES,
  sourceName,
  STATE_MACHINE_LOG_LEVELS,
  strict,
  text,
  THAW_TIERS,
  thenCheck,
  toRemoteReadUrl,
  wholeNumber,
  withDefault,
} from './fields';
import type { RuntimeConfigSent } from './runtime-config';
import { HANDLERS } from './tasks';

/** The context key holding the whole configuration. */
export const CONTEXT_KEY = 'promvault';

export type FunctionRole = keyof typeof HANDLERS;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Lambda allows 4 KiB of environment in total; PROMVAULT_CONFIG must leave room for the rest. */
const MAX_RUNTIME_CONFIG_BYTES = 3500;

/** Memory (MB) and timeout per function role. Shard workers get a full vCPU's worth of memory. */
export const FUNCTION_DEFAULTS: Readonly<Record<FunctionRole, { memoryMb: number; timeout: string }>> = {
  planBackup: { memoryMb: 512, timeout: '5m' },
  backupShard: { memoryMb: 1769, timeout: '15m' },
  commitBackup: { memoryMb: 512, timeout: '5m' },
  planRestore: { memoryMb: 512, timeout: '5m' },
  thaw: { memoryMb: 512, timeout: '5m' },
  restoreShard: { memoryMb: 1769, timeout: '15m' },
  report: { memoryMb: 256, timeout: '2m' },
};

const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

const list = <S extends z.ZodType>(item: S) => z.array(item, { error: expected('a list ([...])') });
const optionalList = <S extends z.ZodType>(item: S) => withDefault(list(item), []);
const int = (fallback: number, min: number, max: number) => withDefault(wholeNumber(min, max), fallback);
/** A whole number of days, or null/false to switch the step off. */
const optionalDays = (fallback: number, min: number, max: number) =>
  z.preprocess(
    (v) => (v === false ? null : v),
    z
      .union([z.null(), wholeNumber(min, max)], { error: expected(`a whole number from ${min} to ${max}`) })
      .default(fallback),
  );

const CREDENTIALS_FIX = 'use credentialsSecretName (a Secrets Manager secret)';

/** How a source is captured: the backup modes, or federate (scheduled /federate capture, no history). */
const CONFIG_SOURCE_MODES = [...SOURCE_MODES, 'federate'] as const;
/** Federate mode: a capture function runs every minute, the shortest EventBridge Scheduler period. */
export const FEDERATE_SCHEDULE = 'rate(1 minute)';
/** Federate mode: fetches per capture; Prometheus scrapes no faster than every second. */
const FEDERATE_INTERVAL = { fallbackMs: 15_000, minMs: 1000, maxMs: MINUTE };

/** Accepts the Prometheus base URL or the full remote-read URL; returns the latter. */
const remoteReadUrl = () => sourceUrl().transform(toRemoteReadUrl);
/** A source URL as written; the source's mode says what it must point at. */
const sourceUrl = () => httpUrl({ example: 'http://prometheus.internal:9090', secretFix: CREDENTIALS_FIX });

// ---- promvault.sources[] ----

const RATE_RE = /^rate\((\d+) (minutes?|hours?|days?)\)$/;
const CRON_RE = /^cron\(\S+( \S+){5}\)$/;
const UNIT_MS: Record<string, number> = { minute: MINUTE, hour: HOUR, day: DAY };

/** rate(...) matching the shard length, so each run commits about one shard. */
function defaultRate(shardLengthMs: number): string {
  const [n, unit] =
    shardLengthMs % DAY === 0
      ? [shardLengthMs / DAY, 'day']
      : shardLengthMs % HOUR === 0
        ? [shardLengthMs / HOUR, 'hour']
        : [shardLengthMs / MINUTE, 'minute'];
  return `rate(${n} ${unit}${n === 1 ? '' : 's'})`;
}

const vpcSchema = strict({
  vpcId: matching(/^vpc-[0-9a-f]{8,17}$/, 'use a VPC id such as vpc-0123456789abcdef0'),
  subnetIds: optionalList(
    matching(/^subnet-[0-9a-f]{8,17}$/, 'use subnet ids such as subnet-0123456789abcdef0'),
  ).refine((l) => l.length > 0, { error: 'lists no subnet: give the private subnets that can reach Prometheus' }),
  securityGroupIds: optionalList(
    matching(/^sg-[0-9a-f]{8,17}$/, 'use security group ids such as sg-0123456789abcdef0'),
  ).refine((l) => l.length > 0, {
    error: 'lists no security group: give one that Prometheus accepts remote-read connections from',
  }),
});
export type VpcConfig = z.output<typeof vpcSchema>;

const sourceFields = strict({
  name: sourceName(),
  /** Remote-read endpoint of the primary (remote-read mode), ending in /api/v1/read. */
  remoteReadUrl: maybe(remoteReadUrl()),
  /** Base URL of the primary: remote read is under it, or the query API in query mode. */
  url: maybe(sourceUrl()),
  /** How the source is read: remote-read (default), query (the HTTP query API) or federate (captured). */
  mode: maybe(choice(CONFIG_SOURCE_MODES)),
  /** Federate mode: time between two /federate fetches. */
  interval: maybe(duration()),
  /** HA replicas of the primary, written like its URL. */
  replicas: optionalList(sourceUrl()),
  /** Query mode: most samples one query answer is planned to hold. */
  maxSamplesPerQuery: maybe(maxSamplesPerQuery()),
  /** How the primary and its replicas are read; default merge when there are replicas. */
  replicaMode: maybe(choice(REPLICA_MODES)),
  /** Labels that tell replicas apart, dropped before merging (e.g. prometheus_replica). */
  replicaLabels: optionalList(labelName()),
  selectors: optionalList(selector()),
  credentialsSecretName: maybe(secretName()),
  /** Sign requests with SigV4 (Amazon Managed Prometheus): {region, service?: 'aps'}. */
  sigv4: maybe(sigv4Settings()),
  shardLength: withDefault(shardLength(), '1h'),
  /** EventBridge Scheduler expression: rate(...) or cron(...); default: the rate of the shard length. */
  schedule: maybe(text()),
  schedulePeriod: maybe(duration()),
  lag: withDefault(duration(), '5m'),
  initialLookback: withDefault(duration(), '7d'),
  /** Shards pulled in parallel; Prometheus serves at most 10 concurrent remote reads by default. */
  maxConcurrency: int(4, 1, 9),
  vpc: maybe(vpcSchema),
});

/** The source with its schedule resolved; `schedulePeriodMs` is the time between two runs. */
const sourceSchema = sourceFields.transform((s, ctx) => {
  const schedule = s.schedule ?? defaultRate(s.shardLength);
  const fail = (key: string, message: string) => {
    ctx.addIssue({ code: 'custom', path: [key], message });
    return z.NEVER;
  };
  if (s.mode === 'federate') return federateSource(s, fail);
  if (s.interval !== undefined)
    return fail('interval', 'is for "mode": "federate" only: remove it, or set "mode": "federate"');
  let schedulePeriodMs: number;
  const rate = RATE_RE.exec(schedule);
  if (rate !== null) {
    const n = Number(rate[1]);
    const unit = rate[2]!;
    if (n < 1 || (n === 1) === unit.endsWith('s'))
      return fail(
        'schedule',
        `${schedule} is not valid: write rate(1 hour) or rate(2 hours): singular for 1, plural otherwise`,
      );
    if (s.schedulePeriod !== undefined)
      return fail('schedulePeriod', 'is only for cron(...) schedules: a rate(...) schedule already says its period');
    schedulePeriodMs = n * UNIT_MS[unit.replace(/s$/, '')]!;
  } else if (CRON_RE.test(schedule)) {
    if (s.schedulePeriod === undefined)
      return fail(
        'schedulePeriod',
        'is required with a cron(...) schedule: give the time between runs (e.g. 1h) for the staleness alarm',
      );
    if (s.schedulePeriod < MINUTE) return fail('schedulePeriod', 'must be at least 1m');
    schedulePeriodMs = s.schedulePeriod;
  } else {
    return fail(
      'schedule',
      `${JSON.stringify(schedule)} is not an EventBridge Scheduler expression: use rate(1 hour), rate(15 minutes) ` +
        'or cron(5 * * * ? *) (six fields, UTC)',
    );
  }
  const mode = s.mode ?? 'remote-read';
  if (s.url !== undefined && s.remoteReadUrl !== undefined)
    return fail('url', 'and remoteReadUrl are both given: keep one (url: the base URL, e.g. http://prometheus:9090)');
  if (mode === 'query') {
    if (s.remoteReadUrl !== undefined)
      return fail(
        'remoteReadUrl',
        'is for remote read, but "mode" is "query": give "url", the base URL of the Prometheus query API ' +
          '(e.g. http://thanos-query:9090 or http://mimir:8080/prometheus), instead',
      );
    for (const [key, u] of [['url', s.url], ...s.replicas.map((r, i) => [`replicas.${i}`, r])] as const)
      if (u !== undefined && isRemoteReadUrl(u))
        return fail(
          key.split('.')[0]!,
          `${u} is a remote-read URL, but "mode" is "query": give the base URL under which /api/v1/query answers`,
        );
  } else if (s.maxSamplesPerQuery !== undefined) {
    return fail('maxSamplesPerQuery', 'is for "mode": "query" only: remove it, or set "mode": "query"');
  }
  const primary = s.remoteReadUrl ?? s.url;
  if (primary === undefined)
    return fail(
      mode === 'query' ? 'url' : 'remoteReadUrl',
      mode === 'query'
        ? 'is missing: give the base URL of the Prometheus query API, e.g. http://thanos-query:9090'
        : 'is missing: give the Prometheus base URL (or its /api/v1/read URL), e.g. http://prometheus.internal:9090',
    );
  for (const [i, url] of [primary, ...s.replicas].entries()) {
    const problem = sigv4Problem(url, s.sigv4?.region, 'sigv4.region');
    if (problem !== undefined)
      return fail(i > 0 ? 'replicas' : s.remoteReadUrl !== undefined ? 'remoteReadUrl' : 'url', problem);
  }
  const urls = 1 + s.replicas.length;
  return {
    name: s.name,
    mode,
    /** Remote-read mode: the primary's remote-read URL. */
    remoteReadUrl: mode === 'query' ? undefined : toRemoteReadUrl(primary),
    /** Query mode: the primary's query API base URL. */
    queryUrl: mode === 'query' ? primary : undefined,
    federateUrl: undefined,
    intervalMs: undefined,
    replicas: mode === 'query' ? s.replicas : s.replicas.map(toRemoteReadUrl),
    ...(s.maxSamplesPerQuery !== undefined ? { maxSamplesPerQuery: s.maxSamplesPerQuery } : {}),
    replicaMode: s.replicaMode ?? defaultReplicaMode(urls),
    replicaLabels: s.replicaLabels,
    selectors: s.selectors,
    ...(s.credentialsSecretName !== undefined ? { credentialsSecretName: s.credentialsSecretName } : {}),
    ...(s.sigv4 !== undefined ? { sigv4: s.sigv4 } : {}),
    shardLengthMs: s.shardLength,
    schedule,
    schedulePeriodMs,
    lagMs: s.lag,
    initialLookbackMs: s.initialLookback,
    maxConcurrency: s.maxConcurrency,
    ...(s.vpc !== undefined ? { vpc: s.vpc } : {}),
  };
});
export type SourceConfig = z.output<typeof sourceSchema>;

/**
 * A federate-mode source: captured by a function every minute, never backed up by the backup
 * state machine (/federate has no history to pull), so the backup-only keys are refused.
 */
function federateSource(s: z.output<typeof sourceFields>, fail: (key: string, message: string) => never) {
  const backupOnly = [
    ['remoteReadUrl', s.remoteReadUrl],
    ['replicas', s.replicas.length > 0 ? s.replicas : undefined],
    ['replicaMode', s.replicaMode],
    ['replicaLabels', s.replicaLabels.length > 0 ? s.replicaLabels : undefined],
    ['maxSamplesPerQuery', s.maxSamplesPerQuery],
    ['schedule', s.schedule],
    ['schedulePeriod', s.schedulePeriod],
    // /federate is never signed: Amazon Managed Prometheus, the one SigV4 server, has no /federate.
    ['sigv4', s.sigv4],
  ] as const;
  for (const [key, value] of backupOnly)
    if (value !== undefined)
      return fail(
        key,
        `is not for "mode": "federate": a federate source is captured from "url" every minute (${FEDERATE_SCHEDULE}); remove ${key}`,
      );
  if (s.url === undefined)
    return fail('url', 'is missing: give the Prometheus base URL that serves /federate, e.g. http://prometheus:9090');
  if (isRemoteReadUrl(s.url))
    return fail(
      'url',
      `${s.url} is a remote-read URL, but "mode" is "federate": give the base URL that serves /federate`,
    );
  const intervalMs = s.interval ?? FEDERATE_INTERVAL.fallbackMs;
  if (intervalMs < FEDERATE_INTERVAL.minMs || intervalMs > FEDERATE_INTERVAL.maxMs)
    return fail(
      'interval',
      `${formatDuration(intervalMs)} must be between 1s and 1m (one capture per minute): use e.g. 15s, the scrape interval`,
    );
  return {
    name: s.name,
    mode: 'federate' as const,
    remoteReadUrl: undefined,
    queryUrl: undefined,
    /** Federate mode: the base URL serving /federate. */
    federateUrl: s.url,
    intervalMs,
    sigv4: undefined,
    replicas: [] as string[],
    replicaMode: defaultReplicaMode(1),
    replicaLabels: [] as string[],
    selectors: s.selectors,
    ...(s.credentialsSecretName !== undefined ? { credentialsSecretName: s.credentialsSecretName } : {}),
    shardLengthMs: s.shardLength,
    schedule: FEDERATE_SCHEDULE,
    schedulePeriodMs: MINUTE,
    lagMs: s.lag,
    initialLookbackMs: s.initialLookback,
    maxConcurrency: s.maxConcurrency,
    ...(s.vpc !== undefined ? { vpc: s.vpc } : {}),
  };
}

// ---- promvault.bucket ----

const PREFIX_RE = /^(?:[A-Za-z0-9!_.()-]+(?:\/[A-Za-z0-9!_.()-]+)*)?$/;

/** S3 lifecycle rules: Standard-IA from day 30, and every later tier at least 30 days after Standard-IA. */
const transitionsSchema = thenCheck(
  withDefault(
    strict({
      standardIaDays: optionalDays(30, 30, 36500),
      glacierIrDays: optionalDays(90, 0, 36500),
      archiveDays: optionalDays(180, 0, 36500),
      archiveClass: withDefault(choice(ARCHIVE_CLASSES), 'GLACIER'),
    }),
    {},
  ),
  (t, ctx) => {
    let previous: [string, number] | undefined;
    for (const key of ['standardIaDays', 'glacierIrDays', 'archiveDays'] as const) {
      const days = t[key];
      if (days === null) continue;
      if (previous !== undefined) {
        const afterIa = previous[0] === 'standardIaDays';
        const least = previous[1] + (afterIa ? 30 : 1);
        if (days < least)
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message:
              `${days} must be at least ${least} (${afterIa ? '30 days after' : 'after'} ${previous[0]} ${previous[1]}` +
              `${afterIa ? ': S3 keeps objects in Standard-IA for 30 days' : ''}); raise it or set it to null to skip the tier`,
          });
      }
      previous = [key, days];
    }
  },
);

/** `"off"`, or {mode, days}; off (null) when left out. */
const objectLockSchema = z.preprocess(
  (v) => (typeof v === 'string' && v.toLowerCase() === 'off' ? { mode: 'off' } : v),
  strict({
    mode: withDefault(choice(['off', ...OBJECT_LOCK_MODES] as const), 'GOVERNANCE'),
    days: maybe(wholeNumber(1, 36500)),
  }).transform((lock, ctx) => {
    if (lock.mode === 'off') return null;
    if (lock.days === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['days'],
        message: `is required with mode ${lock.mode}: give the retention in days, e.g. 30`,
      });
      return z.NEVER;
    }
    return { mode: lock.mode, days: lock.days };
  }),
);

const bucketSchema = thenCheck(
  withDefault(
    strict({
      bucketName: maybe(
        matching(/^(?!xn--)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'use 3-63 lowercase letters, digits, . and -'),
      ),
      /** Key prefix inside the bucket, '' or segments without leading/trailing '/'. */
      prefix: withDefault(
        matching(
          PREFIX_RE,
          "use path segments of letters, digits and !_.()- joined by '/', no leading or trailing '/'",
        ),
        '',
      ),
      transitions: transitionsSchema,
      expirationDays: optionalDays(365, 1, 36500),
      noncurrentExpirationDays: int(30, 1, 36500),
      abortIncompleteUploadDays: int(7, 1, 365),
      objectLock: withDefault(objectLockSchema, 'off'),
      /** An existing KMS key; a new one (with rotation) when absent. */
      kmsKeyArn: maybe(
        matching(
          /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/,
          'use a key ARN, arn:aws:kms:<region>:<account>:key/<id>',
        ),
      ),
      accessLogsExpirationDays: int(90, 1, 36500),
    }),
    {},
  ),
  (b, ctx) => {
    const t = b.transitions;
    const lastTransition = Math.max(t.standardIaDays ?? 0, t.glacierIrDays ?? 0, t.archiveDays ?? 0);
    if (b.expirationDays !== null && b.expirationDays <= lastTransition)
      ctx.addIssue({
        code: 'custom',
        path: ['expirationDays'],
        message: `${b.expirationDays} must come after the last transition (day ${lastTransition}): raise it, or set it to null to keep forever`,
      });
    if (b.objectLock !== null && b.expirationDays !== null && b.objectLock.days > b.expirationDays)
      ctx.addIssue({
        code: 'custom',
        path: ['objectLock'],
        message: `days ${b.objectLock.days} outlasts expirationDays ${b.expirationDays}: locked objects could not expire; lower objectLock.days or raise expirationDays`,
      });
  },
).transform(({ transitions, bucketName, kmsKeyArn, ...b }) => ({
  ...(bucketName !== undefined ? { bucketName } : {}),
  ...b,
  ...transitions,
  ...(kmsKeyArn !== undefined ? { kmsKeyArn } : {}),
}));
export type BucketConfig = z.output<typeof bucketSchema>;

// ---- promvault.restore, .monitoring, .functions ----

/** A polling interval in ms, 10 s to 6 h. */
const pollInterval = (fallback: string) =>
  withDefault(
    duration().refine((ms) => ms >= 10_000 && ms <= 6 * HOUR, {
      error: (issue) => `${formatDuration(issue.input as number)} must be between 10s and 6h`,
    }),
    fallback,
  );

const restoreSchema = withDefault(
  strict({
    targetUrl: maybe(
      httpUrl({
        example: 'http://prometheus.internal:9090/api/v1/write',
        secretFix: 'use targetSecretName (a Secrets Manager secret)',
      }).transform((s) => new URL(s).toString()),
    ),
    targetSecretName: maybe(secretName()),
    /** Sign remote writes with SigV4 (Amazon Managed Prometheus): {region, service?: 'aps'}; needs targetUrl. */
    sigv4: maybe(sigv4Settings()),
    /** Remote-write requests in flight per shard. */
    concurrency: int(4, 1, 64),
    /** Shards restored in parallel (the Map's MaxConcurrency). */
    shardConcurrency: int(4, 1, 40),
    batchSamples: int(5000, 1, 1_000_000),
    thawTier: withDefault(choice(THAW_TIERS), 'Standard'),
    thawDays: int(3, 1, 30),
    pollInterval: pollInterval('5m'),
    expeditedPollInterval: pollInterval('1m'),
  }).transform(({ targetUrl, targetSecretName, sigv4, pollInterval, expeditedPollInterval, ...r }, ctx) => {
    const fail = (key: string, message: string) => {
      ctx.addIssue({ code: 'custom', path: [key], message });
      return z.NEVER;
    };
    if (sigv4 !== undefined && targetUrl === undefined)
      return fail(
        'sigv4',
        'needs targetUrl: the signed target (an Amazon Managed Prometheus workspace) is granted its remote write by its URL; add restore.targetUrl',
      );
    const problem = targetUrl === undefined ? undefined : sigv4Problem(targetUrl, sigv4?.region, 'sigv4.region');
    if (problem !== undefined) return fail('targetUrl', problem);
    return {
      ...(targetUrl !== undefined ? { targetUrl } : {}),
      ...(targetSecretName !== undefined ? { targetSecretName } : {}),
      ...(sigv4 !== undefined ? { sigv4 } : {}),
      ...r,
      pollIntervalMs: pollInterval,
      expeditedPollIntervalMs: expeditedPollInterval,
    };
  }),
  {},
);
export type RestoreConfig = z.output<typeof restoreSchema>;

const monitoringSchema = withDefault(
  strict({
    alarmEmail: maybe(matching(/^[^@\s]+@[^@\s]+\.[^@\s]+$/, 'use an e-mail address')),
    /** Backup staleness alarm: newest committed data older than this many schedule periods. */
    stalenessFactor: int(3, 1, 100),
    logRetentionDays: withDefault(
      wholeNumber(1, 3653).refine((d) => LOG_RETENTION_DAYS.includes(d), {
        error: (issue) =>
          `${String(issue.input)} is not a CloudWatch Logs retention: use one of ${LOG_RETENTION_DAYS.join(', ')}`,
      }),
      30,
    ),
    stateMachineLogLevel: withDefault(choice(STATE_MACHINE_LOG_LEVELS), 'ALL'),
  }).transform(({ alarmEmail, ...m }) => ({ ...(alarmEmail !== undefined ? { alarmEmail } : {}), ...m })),
  {},
);
export type MonitoringConfig = z.output<typeof monitoringSchema>;

const functionSchema = (role: FunctionRole) =>
  withDefault(
    strict({
      memoryMb: int(FUNCTION_DEFAULTS[role].memoryMb, 128, 10240),
      timeout: withDefault(
        duration().refine((ms) => ms >= 1000 && ms <= 15 * MINUTE, {
          error: (issue) => `${formatDuration(issue.input as number)} must be between 1s and 15m (the Lambda maximum)`,
        }),
        FUNCTION_DEFAULTS[role].timeout,
      ),
    }).transform((f) => ({ memoryMb: f.memoryMb, timeoutMs: f.timeout })),
    {},
  );
export type FunctionSettings = z.output<ReturnType<typeof functionSchema>>;

const roles = Object.keys(HANDLERS) as FunctionRole[];
const functionsSchema = withDefault(
  strict(
    Object.fromEntries(roles.map((role) => [role, functionSchema(role)])) as Record<
      FunctionRole,
      ReturnType<typeof functionSchema>
    >,
  ),
  {},
);

// ---- promvault ----

const configFields = strict({
  stackName: withDefault(matching(/^[A-Za-z][A-Za-z0-9-]{0,127}$/, 'use letters, digits and -'), 'Promvault'),
  sources: withDefault(list(sourceSchema), []),
  bucket: bucketSchema,
  restore: restoreSchema,
  monitoring: monitoringSchema,
  functions: functionsSchema,
  /** Plans with more shards than this go to S3 and run through a Distributed Map. */
  inlinePlanLimit: int(100, 1, 400),
  /** After each commit, leftovers of killed runs of that source older than this are deleted (core/gc.ts). */
  gcGrace: withDefault(duration(), formatDuration(DEFAULT_GC_GRACE_MS)),
});

/** Checks between sections; `vpc` is the one VPC shared by every source that sets one. */
export const promvaultConfigSchema = thenCheck(configFields, (c, ctx) => {
  const fail = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  if (c.sources.length === 0)
    fail(['sources'], 'lists no source: add at least one {"name": ..., "remoteReadUrl": ...}');
  const seen = new Set<string>();
  c.sources.forEach((s, i) => {
    if (seen.has(s.name)) fail(['sources', i, 'name'], `${s.name} is used twice: every source needs its own name`);
    seen.add(s.name);
    // A federate source has no backup schedule: its windows are compacted as they complete.
    if (s.mode === 'federate') return;
    // Right after a healthy run the checkpoint lags now by up to one shard plus the lag.
    const { stalenessFactor } = c.monitoring;
    const healthyLagMs = s.shardLengthMs + s.lagMs;
    if (stalenessFactor * s.schedulePeriodMs <= healthyLagMs)
      fail(
        ['sources', i, 'schedule'],
        `the staleness alarm fires after ${stalenessFactor} × ${formatDuration(s.schedulePeriodMs)}, but a healthy source already lags ` +
          `up to shardLength + lag = ${formatDuration(healthyLagMs)}: raise monitoring.stalenessFactor or schedule more often`,
      );
    else if (stalenessFactor * s.schedulePeriodMs > 7 * DAY)
      fail(
        ['sources', i, 'schedule'],
        `the staleness alarm would look back ${stalenessFactor} × ${formatDuration(s.schedulePeriodMs)}, more than the 7 days CloudWatch ` +
          'alarms can evaluate: lower monitoring.stalenessFactor or schedule more often',
      );
  });
  // All sources share one BackupShard function, and a function runs in at most one VPC.
  const first = c.sources.findIndex((s) => s.vpc !== undefined);
  const vpcKey = (v: VpcConfig) => JSON.stringify([v.vpcId, [...v.subnetIds].sort(), [...v.securityGroupIds].sort()]);
  c.sources.forEach((s, i) => {
    if (first >= 0 && s.vpc !== undefined && vpcKey(s.vpc) !== vpcKey(c.sources[first]!.vpc!))
      fail(
        ['sources', i, 'vpc'],
        `differs from ${CONTEXT_KEY}.sources[${first}].vpc: every source shares one BackupShard function, which runs in one VPC; ` +
          'give every private source the same vpc block, or deploy a second stack with its own context',
      );
  });
  // A shard's object and its manifest are written within one BackupShard invocation.
  if (c.gcGrace < c.functions.backupShard.timeoutMs)
    fail(
      ['gcGrace'],
      `${formatDuration(c.gcGrace)} is shorter than functions.backupShard.timeout ${formatDuration(c.functions.backupShard.timeoutMs)}: ` +
        'gc could delete the object of a shard whose manifest is still being written; raise gcGrace',
    );
  if (c.restore.thawTier === 'Expedited' && c.bucket.archiveDays !== null && c.bucket.archiveClass === 'DEEP_ARCHIVE')
    fail(['restore', 'thawTier'], 'Expedited retrieval is not available from DEEP_ARCHIVE: use Standard or Bulk');
})
  .transform((c) => {
    const vpc = c.sources.find((s) => s.vpc !== undefined)?.vpc;
    return { ...c, ...(vpc !== undefined ? { vpc } : {}) };
  })
  .superRefine((c, ctx) => {
    const size = Buffer.byteLength(JSON.stringify(toRuntimeConfig(c, 'x'.repeat(63))));
    if (size > MAX_RUNTIME_CONFIG_BYTES)
      ctx.addIssue({
        code: 'custom',
        path: ['sources'],
        message:
          `the runtime configuration takes ${size} bytes, more than the ${MAX_RUNTIME_CONFIG_BYTES} that fit in a Lambda ` +
          'environment: shorten selectors or URLs, or split the sources over two stacks (two cdk.json contexts)',
      });
  });

export type PromvaultConfig = z.output<typeof configFields> & { readonly vpc?: VpcConfig };

/**
 * The handlers' view of the configuration (PROMVAULT_CONFIG, lambdas/schemas/runtime-config.ts).
 * Replica settings at their default are left out: the Lambda environment is small.
 */
export function toRuntimeConfig(config: PromvaultConfig, bucketName: string): RuntimeConfigSent {
  const r = config.restore;
  return {
    bucket: bucketName,
    prefix: config.bucket.prefix,
    sources: config.sources.flatMap((s) => {
      if (s.mode === 'federate') return [];
      const urls = [s.remoteReadUrl ?? s.queryUrl!, ...s.replicas];
      return {
        name: s.name,
        ...(s.mode === 'query' ? { mode: s.mode, queryUrls: urls } : { remoteReadUrls: urls }),
        ...(s.maxSamplesPerQuery !== undefined ? { maxSamplesPerQuery: s.maxSamplesPerQuery } : {}),
        ...(s.replicaMode !== defaultReplicaMode(urls.length) ? { replicaMode: s.replicaMode } : {}),
        ...(s.replicaLabels.length > 0 ? { replicaLabels: s.replicaLabels } : {}),
        selectors: s.selectors,
        ...(s.credentialsSecretName !== undefined ? { credentialsSecretName: s.credentialsSecretName } : {}),
        ...(s.sigv4 !== undefined ? { sigv4: s.sigv4 } : {}),
        shardLengthMs: s.shardLengthMs,
        lagMs: s.lagMs,
        initialLookbackMs: s.initialLookbackMs,
      };
    }),
    ...federateRuntimeSources(config),
    restore: {
      ...(r.targetUrl !== undefined ? { targetUrl: r.targetUrl } : {}),
      ...(r.targetSecretName !== undefined ? { targetSecretName: r.targetSecretName } : {}),
      ...(r.sigv4 !== undefined ? { sigv4: r.sigv4 } : {}),
      concurrency: r.concurrency,
      batchSamples: r.batchSamples,
      thawTier: r.thawTier,
      thawDays: r.thawDays,
    },
    inlinePlanLimit: config.inlinePlanLimit,
    ...(config.gcGrace !== DEFAULT_GC_GRACE_MS ? { gcGraceMs: config.gcGrace } : {}),
  };
}

/** Federate-mode sources, in their own list: the backup handlers never see them. */
function federateRuntimeSources(config: PromvaultConfig): Pick<RuntimeConfigSent, 'federateSources'> {
  const sources = config.sources.flatMap((s) =>
    s.mode === 'federate'
      ? [
          {
            name: s.name,
            url: s.federateUrl!,
            intervalMs: s.intervalMs!,
            selectors: s.selectors,
            ...(s.credentialsSecretName !== undefined ? { credentialsSecretName: s.credentialsSecretName } : {}),
            shardLengthMs: s.shardLengthMs,
          },
        ]
      : [],
  );
  return sources.length > 0 ? { federateSources: sources } : {};
}
