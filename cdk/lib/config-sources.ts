/** Reading `promvault.sources[]`: URLs, selectors, shard length, schedule, VPC. */
import { validateShardLength } from '../../lambdas/core/backup/plan';
import { parseSelector } from '../../lambdas/core/prom/selector';
import { validateSourceName } from '../../lambdas/core/shard';
import { formatDuration } from '../../lambdas/core/time';
import type { SourceConfig, VpcConfig } from './config';
import { Reader } from './config-reader';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const SECRET_RE = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const RATE_RE = /^rate\((\d+) (minutes?|hours?|days?)\)$/;
const CRON_RE = /^cron\(\S+( \S+){5}\)$/;
const UNIT_MS: Record<string, number> = { minute: MINUTE, hour: HOUR, day: DAY };

/** A Secrets Manager secret name. */
export function secretName(r: Reader): string {
  return r.matching(SECRET_RE, 'use a Secrets Manager secret name');
}

export function parseSource(r: Reader, stalenessFactor: number): SourceConfig {
  r.onlyKeys([
    'name',
    'remoteReadUrl',
    'replicas',
    'selectors',
    'credentialsSecretName',
    'shardLength',
    'schedule',
    'schedulePeriod',
    'lag',
    'initialLookback',
    'maxConcurrency',
    'vpc',
  ]);
  const nameReader = r.field('name');
  const name = nameReader.string();
  try {
    validateSourceName(name);
  } catch (err) {
    nameReader.fail((err as Error).message);
  }
  const shardReader = r.field('shardLength');
  const shardLengthMs = shardReader.duration('1h');
  try {
    validateShardLength(shardLengthMs, shardReader.key);
  } catch (err) {
    shardReader.fail((err as Error).message.replace(/^invalid \S+ /, ''));
  }
  const { schedule, periodMs } = parseSchedule(r, shardLengthMs);
  const lagMs = r.field('lag').duration('5m');
  // Right after a healthy run the checkpoint lags now by up to one shard plus the lag.
  const healthyLagMs = shardLengthMs + lagMs;
  if (stalenessFactor * periodMs <= healthyLagMs) {
    r.field('schedule').fail(
      `the staleness alarm fires after ${stalenessFactor} × ${formatDuration(periodMs)}, but a healthy source already lags ` +
        `up to shardLength + lag = ${formatDuration(healthyLagMs)}: raise monitoring.stalenessFactor or schedule more often`,
    );
  }
  if (stalenessFactor * periodMs > 7 * DAY) {
    r.field('schedule').fail(
      `the staleness alarm would look back ${stalenessFactor} × ${formatDuration(periodMs)}, more than the 7 days CloudWatch ` +
        'alarms can evaluate: lower monitoring.stalenessFactor or schedule more often',
    );
  }
  const vpcReader = r.field('vpc');
  const vpc = vpcReader.present ? parseVpc(vpcReader) : undefined;
  const secret = r.field('credentialsSecretName');
  return {
    name,
    remoteReadUrl: remoteReadUrl(r.field('remoteReadUrl')),
    replicas: r
      .field('replicas')
      .items()
      .map((item) => remoteReadUrl(item)),
    selectors: r
      .field('selectors')
      .items()
      .map((item) => selector(item)),
    ...(secret.present ? { credentialsSecretName: secretName(secret) } : {}),
    shardLengthMs,
    schedule,
    schedulePeriodMs: periodMs,
    lagMs,
    initialLookbackMs: r.field('initialLookback').duration('7d'),
    // Prometheus' default remote-read concurrency limit is 10; stay below it.
    maxConcurrency: r.field('maxConcurrency').integer(4, 1, 9),
    ...(vpc !== undefined ? { vpc } : {}),
  };
}

/** A PromQL series selector, checked by the same parser the handlers use. */
function selector(r: Reader): string {
  const text = r.string();
  try {
    parseSelector(text);
  } catch (err) {
    r.fail((err as Error).message); // it quotes the selector and shows valid ones
  }
  return text;
}

/** Accepts the Prometheus base URL or the full remote-read URL; returns the latter. */
function remoteReadUrl(r: Reader): string {
  const url = new URL(r.httpUrl());
  if (!url.pathname.endsWith('/api/v1/read')) url.pathname = url.pathname.replace(/\/$/, '') + '/api/v1/read';
  return url.toString();
}

function parseSchedule(r: Reader, shardLengthMs: number): { schedule: string; periodMs: number } {
  const scheduleReader = r.field('schedule');
  const schedule = scheduleReader.string(defaultRate(shardLengthMs));
  const periodReader = r.field('schedulePeriod');
  const rate = RATE_RE.exec(schedule);
  if (rate !== null) {
    const n = Number(rate[1]);
    const unit = rate[2]!;
    if (n < 1 || (n === 1) === unit.endsWith('s')) {
      scheduleReader.fail(
        `${schedule} is not valid: write rate(1 hour) or rate(2 hours): singular for 1, plural otherwise`,
      );
    }
    if (periodReader.present)
      periodReader.fail('is only for cron(...) schedules: a rate(...) schedule already says its period');
    return { schedule, periodMs: n * UNIT_MS[unit.replace(/s$/, '')]! };
  }
  if (CRON_RE.test(schedule)) {
    if (!periodReader.present) {
      periodReader.fail(
        'is required with a cron(...) schedule: give the time between runs (e.g. 1h) for the staleness alarm',
      );
    }
    const periodMs = periodReader.duration('1h');
    if (periodMs < MINUTE) periodReader.fail('must be at least 1m');
    return { schedule, periodMs };
  }
  return scheduleReader.fail(
    `${JSON.stringify(schedule)} is not an EventBridge Scheduler expression: use rate(1 hour), rate(15 minutes) ` +
      'or cron(5 * * * ? *) (six fields, UTC)',
  );
}

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

function parseVpc(r: Reader): VpcConfig {
  r.onlyKeys(['vpcId', 'subnetIds', 'securityGroupIds']);
  const subnets = r.field('subnetIds');
  const groups = r.field('securityGroupIds');
  const vpc: VpcConfig = {
    vpcId: r.field('vpcId').matching(/^vpc-[0-9a-f]{8,17}$/, 'use a VPC id such as vpc-0123456789abcdef0'),
    subnetIds: subnets.stringList(/^subnet-[0-9a-f]{8,17}$/, 'use subnet ids such as subnet-0123456789abcdef0'),
    securityGroupIds: groups.stringList(/^sg-[0-9a-f]{8,17}$/, 'use security group ids such as sg-0123456789abcdef0'),
  };
  if (vpc.subnetIds.length === 0) subnets.fail('lists no subnet: give the private subnets that can reach Prometheus');
  if (vpc.securityGroupIds.length === 0) {
    groups.fail('lists no security group: give one that Prometheus accepts remote-read connections from');
  }
  return vpc;
}

export function checkUniqueNames(r: Reader, sources: readonly SourceConfig[]): void {
  const seen = new Set<string>();
  sources.forEach((s, i) => {
    if (seen.has(s.name)) {
      new Reader(`${r.key}[${i}].name`, s.name).fail(`${s.name} is used twice: every source needs its own name`);
    }
    seen.add(s.name);
  });
}

/** All sources share one BackupShard function, and a function runs in at most one VPC. */
export function sharedVpc(r: Reader, sources: readonly SourceConfig[]): VpcConfig | undefined {
  const first = sources.findIndex((s) => s.vpc !== undefined);
  if (first < 0) return undefined;
  const vpc = sources[first]!.vpc!;
  const key = (v: VpcConfig) => JSON.stringify([v.vpcId, [...v.subnetIds].sort(), [...v.securityGroupIds].sort()]);
  sources.forEach((s, i) => {
    if (s.vpc !== undefined && key(s.vpc) !== key(vpc)) {
      new Reader(`${r.key}[${i}].vpc`, undefined).fail(
        `differs from ${r.key}[${first}].vpc: every source shares one BackupShard function, which runs in one VPC; ` +
          'give every private source the same vpc block, or deploy a second stack with its own context',
      );
    }
  });
  return vpc;
}
