/** Reading `promvault.bucket`, `.restore`, `.monitoring` and `.functions`. */
import { formatDuration } from '../../lambdas/core/time';
import type {
  BucketConfig,
  FunctionRole,
  FunctionSettings,
  MonitoringConfig,
  RestoreConfig,
  ThawTier,
  ArchiveClass,
} from './config';
import { Reader } from './config-reader';
import { secretName } from './config-sources';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

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

const PREFIX_RE = /^(?:[A-Za-z0-9!_.()-]+(?:\/[A-Za-z0-9!_.()-]+)*)?$/;

export function parseBucket(r: Reader): BucketConfig {
  r.onlyKeys([
    'bucketName',
    'prefix',
    'transitions',
    'expirationDays',
    'noncurrentExpirationDays',
    'abortIncompleteUploadDays',
    'objectLock',
    'kmsKeyArn',
    'accessLogsExpirationDays',
  ]);
  const t = r.field('transitions').onlyKeys(['standardIaDays', 'glacierIrDays', 'archiveDays', 'archiveClass']);
  const tiers = {
    standardIaDays: t.field('standardIaDays').optionalDays(30, 30, 36500),
    glacierIrDays: t.field('glacierIrDays').optionalDays(90, 0, 36500),
    archiveDays: t.field('archiveDays').optionalDays(180, 0, 36500),
    archiveClass: t.field('archiveClass').oneOf<ArchiveClass>(['GLACIER', 'DEEP_ARCHIVE'], 'GLACIER'),
  };
  checkTierOrder(t, tiers);
  const expiryReader = r.field('expirationDays');
  const expirationDays = expiryReader.optionalDays(365, 1, 36500);
  const lastTransition = Math.max(tiers.standardIaDays ?? 0, tiers.glacierIrDays ?? 0, tiers.archiveDays ?? 0);
  if (expirationDays !== null && expirationDays <= lastTransition) {
    expiryReader.fail(
      `${expirationDays} must come after the last transition (day ${lastTransition}): raise it, or set it to null to keep forever`,
    );
  }
  const objectLock = parseObjectLock(r.field('objectLock'));
  if (objectLock !== null && expirationDays !== null && objectLock.days > expirationDays) {
    r.field('objectLock').fail(
      `days ${objectLock.days} outlasts expirationDays ${expirationDays}: locked objects could not expire; lower objectLock.days or raise expirationDays`,
    );
  }
  const bucketName = r.field('bucketName');
  const kms = r.field('kmsKeyArn');
  return {
    ...(bucketName.present
      ? {
          bucketName: bucketName.matching(
            /^(?!xn--)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
            'use 3-63 lowercase letters, digits, . and -',
          ),
        }
      : {}),
    prefix: r
      .field('prefix')
      .matching(
        PREFIX_RE,
        "use path segments of letters, digits and !_.()- joined by '/', no leading or trailing '/'",
        '',
      ),
    ...tiers,
    expirationDays,
    noncurrentExpirationDays: r.field('noncurrentExpirationDays').integer(30, 1, 36500),
    abortIncompleteUploadDays: r.field('abortIncompleteUploadDays').integer(7, 1, 365),
    objectLock,
    ...(kms.present
      ? {
          kmsKeyArn: kms.matching(
            /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/,
            'use a key ARN, arn:aws:kms:<region>:<account>:key/<id>',
          ),
        }
      : {}),
    accessLogsExpirationDays: r.field('accessLogsExpirationDays').integer(90, 1, 36500),
  };
}

/** S3 lifecycle rules: Standard-IA from day 30, and every later tier at least 30 days after Standard-IA. */
function checkTierOrder(
  t: Reader,
  tiers: { standardIaDays: number | null; glacierIrDays: number | null; archiveDays: number | null },
): void {
  const steps: [string, number | null][] = [
    ['standardIaDays', tiers.standardIaDays],
    ['glacierIrDays', tiers.glacierIrDays],
    ['archiveDays', tiers.archiveDays],
  ];
  let previous: [string, number] | undefined;
  for (const [key, days] of steps) {
    if (days === null) continue;
    if (previous !== undefined) {
      const gap = previous[0] === 'standardIaDays' ? 30 : 1;
      if (days < previous[1] + gap) {
        t.field(key).fail(
          `${days} must be at least ${previous[1] + gap} (${gap === 30 ? '30 days after' : 'after'} ${previous[0]} ${previous[1]}` +
            `${gap === 30 ? ': S3 keeps objects in Standard-IA for 30 days' : ''}); raise it or set it to null to skip the tier`,
        );
      }
    }
    previous = [key, days];
  }
}

function parseObjectLock(r: Reader): BucketConfig['objectLock'] {
  if (!r.present || (typeof r.value === 'string' && r.value.toLowerCase() === 'off')) return null;
  r.onlyKeys(['mode', 'days']);
  const mode = r.field('mode').oneOf(['off', 'GOVERNANCE', 'COMPLIANCE'] as const, 'GOVERNANCE');
  if (mode === 'off') return null;
  const days = r.field('days');
  if (!days.present) days.fail(`is required with mode ${mode}: give the retention in days, e.g. 30`);
  return { mode, days: days.integer(30, 1, 36500) };
}

export function parseRestore(r: Reader, bucket: BucketConfig): RestoreConfig {
  r.onlyKeys([
    'targetUrl',
    'targetSecretName',
    'concurrency',
    'shardConcurrency',
    'batchSamples',
    'thawTier',
    'thawDays',
    'pollInterval',
    'expeditedPollInterval',
  ]);
  const tierReader = r.field('thawTier');
  const thawTier = tierReader.oneOf<ThawTier>(['Standard', 'Bulk', 'Expedited'], 'Standard');
  if (thawTier === 'Expedited' && bucket.archiveDays !== null && bucket.archiveClass === 'DEEP_ARCHIVE') {
    tierReader.fail('Expedited retrieval is not available from DEEP_ARCHIVE: use Standard or Bulk');
  }
  const target = r.field('targetUrl');
  const secret = r.field('targetSecretName');
  const interval = (key: string, fallback: string) => {
    const reader = r.field(key);
    const ms = reader.duration(fallback);
    if (ms < 10_000 || ms > 6 * HOUR) reader.fail(`${formatDuration(ms)} must be between 10s and 6h`);
    return ms;
  };
  return {
    ...(target.present ? { targetUrl: target.httpUrl() } : {}),
    ...(secret.present ? { targetSecretName: secretName(secret) } : {}),
    concurrency: r.field('concurrency').integer(4, 1, 64),
    shardConcurrency: r.field('shardConcurrency').integer(4, 1, 40),
    batchSamples: r.field('batchSamples').integer(5000, 1, 1_000_000),
    thawTier,
    thawDays: r.field('thawDays').integer(3, 1, 30),
    pollIntervalMs: interval('pollInterval', '5m'),
    expeditedPollIntervalMs: interval('expeditedPollInterval', '1m'),
  };
}

export function parseMonitoring(r: Reader): MonitoringConfig {
  r.onlyKeys(['alarmEmail', 'stalenessFactor', 'logRetentionDays', 'stateMachineLogLevel']);
  const email = r.field('alarmEmail');
  const retention = r.field('logRetentionDays');
  const logRetentionDays = retention.integer(30, 1, 3653);
  if (!LOG_RETENTION_DAYS.includes(logRetentionDays)) {
    retention.fail(
      `${logRetentionDays} is not a CloudWatch Logs retention: use one of ${LOG_RETENTION_DAYS.join(', ')}`,
    );
  }
  return {
    ...(email.present ? { alarmEmail: email.matching(/^[^@\s]+@[^@\s]+\.[^@\s]+$/, 'use an e-mail address') } : {}),
    stalenessFactor: r.field('stalenessFactor').integer(3, 1, 100),
    logRetentionDays,
    stateMachineLogLevel: r.field('stateMachineLogLevel').oneOf(['ALL', 'ERROR'] as const, 'ALL'),
  };
}

export function parseFunctions(r: Reader): Record<FunctionRole, FunctionSettings> {
  const roles = Object.keys(FUNCTION_DEFAULTS) as FunctionRole[];
  r.onlyKeys(roles);
  const out = {} as Record<FunctionRole, FunctionSettings>;
  for (const role of roles) {
    const f = r.field(role).onlyKeys(['memoryMb', 'timeout']);
    const timeout = f.field('timeout');
    const timeoutMs = timeout.duration(FUNCTION_DEFAULTS[role].timeout);
    if (timeoutMs < 1000 || timeoutMs > 15 * MINUTE)
      timeout.fail(`${formatDuration(timeoutMs)} must be between 1s and 15m (the Lambda maximum)`);
    out[role] = { memoryMb: f.field('memoryMb').integer(FUNCTION_DEFAULTS[role].memoryMb, 128, 10240), timeoutMs };
  }
  return out;
}
