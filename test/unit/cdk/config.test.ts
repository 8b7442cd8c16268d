import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, parseConfig, toRuntimeConfig } from '../../../cdk/lib/config';
import { minimalConfig } from './helpers';
import { parseRuntimeConfig } from '../../../lambdas/schemas/runtime-config';

const source = (extra: Record<string, unknown>) => ({
  name: 'prod',
  remoteReadUrl: 'http://prometheus.internal:9090',
  ...extra,
});
const withSource = (extra: Record<string, unknown>) => minimalConfig({ sources: [source(extra)] });

describe('parseConfig defaults', () => {
  const config = parseConfig(minimalConfig());

  test('a source gets the documented defaults', () => {
    expect(config.sources[0]).toEqual({
      name: 'prod',
      mode: 'remote-read',
      remoteReadUrl: 'http://prometheus.internal:9090/api/v1/read',
      replicas: [],
      replicaMode: 'failover',
      replicaLabels: [],
      selectors: [],
      shardLengthMs: 3_600_000,
      schedule: 'rate(1 hour)',
      schedulePeriodMs: 3_600_000,
      lagMs: 300_000,
      initialLookbackMs: 7 * 86_400_000,
      maxConcurrency: 4,
    });
  });

  test('bucket, restore and monitoring defaults', () => {
    expect(config.bucket).toMatchObject({
      prefix: '',
      standardIaDays: 30,
      glacierIrDays: 90,
      archiveDays: 180,
      archiveClass: 'GLACIER',
      expirationDays: 365,
      noncurrentExpirationDays: 30,
      objectLock: null,
    });
    expect(config.bucket.kmsKeyArn).toBeUndefined();
    expect(config.restore).toEqual({
      concurrency: 4,
      shardConcurrency: 4,
      batchSamples: 5000,
      thawTier: 'Standard',
      thawDays: 3,
      pollIntervalMs: 300_000,
      expeditedPollIntervalMs: 60_000,
    });
    expect(config.monitoring).toEqual({ stalenessFactor: 3, logRetentionDays: 30, stateMachineLogLevel: 'ALL' });
    expect(config.functions.backupShard).toEqual({ memoryMb: 1769, timeoutMs: 900_000 });
    expect(config.stackName).toBe('Promvault');
    expect(config.vpc).toBeUndefined();
  });

  test.each([
    ['15m', 'rate(15 minutes)', 900_000],
    ['2h', 'rate(2 hours)', 7_200_000],
    ['1d', 'rate(1 day)', 86_400_000],
  ])('shard length %s schedules %s by default', (shardLength, schedule, periodMs) => {
    const s = parseConfig(withSource({ shardLength })).sources[0]!;
    expect(s.schedule).toBe(schedule);
    expect(s.schedulePeriodMs).toBe(periodMs);
  });
});

describe('parseConfig values', () => {
  test('URLs: a base URL gets /api/v1/read, a full remote-read URL is kept, replicas too', () => {
    const s = parseConfig(
      withSource({ remoteReadUrl: 'https://p.example:9090/prom/', replicas: ['http://b:9090/api/v1/read'] }),
    ).sources[0]!;
    expect(s.remoteReadUrl).toBe('https://p.example:9090/prom/api/v1/read');
    expect(s.replicas).toEqual(['http://b:9090/api/v1/read']);
  });

  test('cron schedules take their period from schedulePeriod', () => {
    const s = parseConfig(withSource({ schedule: 'cron(5 * * * ? *)', schedulePeriod: '1h' })).sources[0]!;
    expect(s).toMatchObject({ schedule: 'cron(5 * * * ? *)', schedulePeriodMs: 3_600_000 });
  });

  test('tiers can be switched off with null; objectLock and VPC parse', () => {
    const config = parseConfig(
      minimalConfig({
        sources: [
          source({
            vpc: {
              vpcId: 'vpc-0123456789abcdef0',
              subnetIds: ['subnet-0123456789abcdef0'],
              securityGroupIds: ['sg-0123456789abcdef0'],
            },
          }),
        ],
        bucket: {
          transitions: { standardIaDays: null, glacierIrDays: 30, archiveDays: null },
          objectLock: { mode: 'compliance', days: 30 },
        },
      }),
    );
    expect(config.bucket).toMatchObject({
      standardIaDays: null,
      glacierIrDays: 30,
      archiveDays: null,
      objectLock: { mode: 'COMPLIANCE', days: 30 },
    });
    expect(config.vpc?.subnetIds).toEqual(['subnet-0123456789abcdef0']);
  });

  test('gcGrace: 1h by default (as promvault gc), sent to the functions only when changed', () => {
    expect(parseConfig(minimalConfig()).gcGrace).toBe(3_600_000);
    expect(toRuntimeConfig(parseConfig(minimalConfig()), 'b')).not.toHaveProperty('gcGraceMs');
    expect(toRuntimeConfig(parseConfig(minimalConfig({ gcGrace: '6h' })), 'b')).toMatchObject({
      gcGraceMs: 21_600_000,
    });
    expect(parseRuntimeConfig(JSON.stringify(toRuntimeConfig(parseConfig(minimalConfig()), 'b'))).gcGraceMs).toBe(
      3_600_000,
    );
  });

  test('toRuntimeConfig is the handlers contract (RuntimeConfig)', () => {
    const config = parseConfig(
      minimalConfig({
        sources: [
          source({
            replicas: ['http://replica:9090'],
            selectors: ['{job="api"}'],
            credentialsSecretName: 'promvault/prod',
          }),
        ],
        bucket: { prefix: 'team/promvault' },
        restore: { targetUrl: 'http://vm:8428/api/v1/write', thawTier: 'Bulk' },
      }),
    );
    expect(toRuntimeConfig(config, 'my-bucket')).toEqual({
      bucket: 'my-bucket',
      prefix: 'team/promvault',
      sources: [
        {
          name: 'prod',
          remoteReadUrls: ['http://prometheus.internal:9090/api/v1/read', 'http://replica:9090/api/v1/read'],
          selectors: ['{job="api"}'],
          credentialsSecretName: 'promvault/prod',
          shardLengthMs: 3_600_000,
          lagMs: 300_000,
          initialLookbackMs: 604_800_000,
        },
      ],
      restore: {
        targetUrl: 'http://vm:8428/api/v1/write',
        concurrency: 4,
        batchSamples: 5000,
        thawTier: 'Bulk',
        thawDays: 3,
      },
      inlinePlanLimit: 100,
    });
  });
});

describe('a bad value names the key and the fix', () => {
  const vpc = (n: string) => ({
    vpcId: `vpc-${n}`,
    subnetIds: ['subnet-0123456789abcdef0'],
    securityGroupIds: ['sg-0123456789abcdef0'],
  });
  test.each<[string, unknown, RegExp]>([
    ['no promvault context', undefined, /^cdk\.json context promvault: is missing: add a "promvault" object/],
    ['no source', { sources: [] }, /promvault\.sources: lists no source: add at least one/],
    [
      'unusable source name',
      withSource({ name: 'prod/eu' }),
      /promvault\.sources\[0\]\.name: .*not usable in object keys: use 1-63 letters/,
    ],
    [
      'shard length not dividing a day',
      withSource({ shardLength: '7h' }),
      /promvault\.sources\[0\]\.shardLength: 7h: it must divide 24h evenly.*use one of 1m, 2m/,
    ],
    [
      'not a duration',
      withSource({ lag: 'soon' }),
      /promvault\.sources\[0\]\.lag: "soon": use a Prometheus duration such as 30s/,
    ],
    [
      'not an http URL',
      withSource({ remoteReadUrl: 'prometheus:9090' }),
      /promvault\.sources\[0\]\.remoteReadUrl: prometheus:9090 must be an http:\/\/ or https:\/\/ URL/,
    ],
    [
      'not an URL at all',
      withSource({ remoteReadUrl: 'prometheus internal' }),
      /remoteReadUrl: "prometheus internal" is not a URL: write it in full/,
    ],
    [
      'not a schedule',
      withSource({ schedule: 'hourly' }),
      /promvault\.sources\[0\]\.schedule: "hourly" is not an EventBridge Scheduler expression: use rate\(1 hour\)/,
    ],
    [
      'rate with a wrong plural',
      withSource({ schedule: 'rate(1 hours)' }),
      /schedule: rate\(1 hours\) is not valid: write rate\(1 hour\) or rate\(2 hours\)/,
    ],
    [
      'cron without a period',
      withSource({ schedule: 'cron(0 * * * ? *)' }),
      /promvault\.sources\[0\]\.schedulePeriod: is required with a cron\(\.\.\.\) schedule/,
    ],
    [
      'concurrency at the Prometheus limit',
      withSource({ maxConcurrency: 10 }),
      /promvault\.sources\[0\]\.maxConcurrency: expected a whole number from 1 to 9, got 10/,
    ],
    [
      'a typo in a key',
      withSource({ shard_length: '1h' }),
      /promvault\.sources\[0\]: unknown key "shard_length": the known keys are name, remoteReadUrl/,
    ],
    [
      'a selector that is not one',
      withSource({ selectors: ['job=api'] }),
      /promvault\.sources\[0\]\.selectors\[0\]: invalid selector "job=api": .*valid selectors look like/,
    ],
    [
      'two sources, one name',
      { sources: [source({}), source({})] },
      /promvault\.sources\[1\]\.name: prod is used twice/,
    ],
    [
      'sources in two VPCs',
      { sources: [source({ vpc: vpc('0123456789abcdef0') }), source({ name: 'dev', vpc: vpc('0123456789abcdef1') })] },
      /promvault\.sources\[1\]\.vpc: differs from promvault\.sources\[0\]\.vpc: every source shares one BackupShard function/,
    ],
    [
      'Standard-IA before 30 days',
      minimalConfig({ bucket: { transitions: { standardIaDays: 10 } } }),
      /promvault\.bucket\.transitions\.standardIaDays: expected a whole number from 30/,
    ],
    [
      'Glacier IR within 30 days of Standard-IA',
      minimalConfig({ bucket: { transitions: { standardIaDays: 30, glacierIrDays: 45 } } }),
      /promvault\.bucket\.transitions\.glacierIrDays: 45 must be at least 60 \(30 days after standardIaDays 30: S3 keeps objects in Standard-IA for 30 days\)/,
    ],
    [
      'expiry before the archive tier',
      minimalConfig({ bucket: { expirationDays: 100 } }),
      /promvault\.bucket\.expirationDays: 100 must come after the last transition \(day 180\)/,
    ],
    [
      'object lock without days',
      minimalConfig({ bucket: { objectLock: { mode: 'GOVERNANCE' } } }),
      /promvault\.bucket\.objectLock\.days: is required with mode GOVERNANCE/,
    ],
    [
      'object lock mode unknown',
      minimalConfig({ bucket: { objectLock: { mode: 'LEGAL', days: 3 } } }),
      /promvault\.bucket\.objectLock\.mode: "LEGAL" is not one of off, GOVERNANCE, COMPLIANCE/,
    ],
    [
      'object lock longer than expiry',
      minimalConfig({ bucket: { objectLock: { mode: 'GOVERNANCE', days: 400 } } }),
      /objectLock: days 400 outlasts expirationDays 365/,
    ],
    [
      'a prefix with slashes around',
      minimalConfig({ bucket: { prefix: '/promvault/' } }),
      /promvault\.bucket\.prefix: "\/promvault\/" is not valid: .*no leading or trailing '\/'/,
    ],
    [
      'Expedited thaw from Deep Archive',
      minimalConfig({ bucket: { transitions: { archiveClass: 'DEEP_ARCHIVE' } }, restore: { thawTier: 'Expedited' } }),
      /promvault\.restore\.thawTier: Expedited retrieval is not available from DEEP_ARCHIVE: use Standard or Bulk/,
    ],
    [
      'a staleness alarm that would always fire',
      minimalConfig({ monitoring: { stalenessFactor: 1 } }),
      /promvault\.sources\[0\]\.schedule: .*raise monitoring\.stalenessFactor or schedule more often/,
    ],
    [
      'a log retention CloudWatch does not offer',
      minimalConfig({ monitoring: { logRetentionDays: 10 } }),
      /promvault\.monitoring\.logRetentionDays: 10 is not a CloudWatch Logs retention: use one of 1, 3, 5/,
    ],
    [
      'a Lambda timeout over 15 minutes',
      minimalConfig({ functions: { backupShard: { timeout: '20m' } } }),
      /promvault\.functions\.backupShard\.timeout: 20m must be between 1s and 15m/,
    ],
    [
      'a gc grace shorter than a shard run may take',
      minimalConfig({ gcGrace: '10m' }),
      /promvault\.gcGrace: 10m is shorter than functions\.backupShard\.timeout 15m: .*raise gcGrace/,
    ],
    ['a gc grace that is no duration', minimalConfig({ gcGrace: 'soon' }), /promvault\.gcGrace: /],
    [
      'more sources than fit in a Lambda environment',
      {
        sources: Array.from({ length: 30 }, (_, i) =>
          source({ name: `source-${i}`, selectors: ['{job="a-rather-long-job-name"}'] }),
        ),
      },
      /promvault\.sources: the runtime configuration takes \d+ bytes, more than the 3500 .* split the sources over two stacks/,
    ],
  ])('%s', (_name, raw, message) => {
    const attempt = () => parseConfig(raw);
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(message);
  });
});

test('cdk/bin/app.ts stops synth with the message, not a stack trace', () => {
  const root = path.resolve(__dirname, '../../..');
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'promvault-app-'));
  const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'cdk/bin/app.ts')], {
    cwd: root,
    encoding: 'utf8',
    env: {
      ...process.env,
      CDK_CONTEXT_JSON: JSON.stringify({ promvault: withSource({ shardLength: '7h' }) }),
      CDK_OUTDIR: outdir,
    },
    timeout: 60_000,
  });
  fs.rmSync(outdir, { recursive: true, force: true });
  expect(result.status).toBe(1);
  expect(result.stderr).toContain(
    'promvault: cdk.json context promvault.sources[0].shardLength: 7h: it must divide 24h evenly',
  );
  expect(result.stderr).not.toContain('    at ');
});
