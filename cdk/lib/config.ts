/**
 * The `promvault` context of cdk.json, parsed once into a typed, validated object. Pure: no
 * CDK, no AWS, no environment; a bad value throws ConfigError naming the key and the fix.
 * docs/DEPLOY.md documents every key; the defaults live in the config-*.ts readers.
 */
import type { HANDLERS, RuntimeConfig } from '../../lambdas/handlers/contracts';
import { Reader } from './config-reader';
import { parseBucket, parseFunctions, parseMonitoring, parseRestore } from './config-settings';
import { checkUniqueNames, parseSource, sharedVpc } from './config-sources';

export { ConfigError } from './config-reader';
export { FUNCTION_DEFAULTS } from './config-settings';

/** The context key holding the whole configuration. */
export const CONTEXT_KEY = 'promvault';

export type ArchiveClass = 'GLACIER' | 'DEEP_ARCHIVE';
export type ThawTier = 'Standard' | 'Bulk' | 'Expedited';
export type FunctionRole = keyof typeof HANDLERS;

export interface VpcConfig {
  readonly vpcId: string;
  readonly subnetIds: readonly string[];
  readonly securityGroupIds: readonly string[];
}

export interface SourceConfig {
  readonly name: string;
  /** Remote-read endpoint of the primary, ending in /api/v1/read. */
  readonly remoteReadUrl: string;
  /** HA replicas, tried in order when the primary fails. */
  readonly replicas: readonly string[];
  readonly selectors: readonly string[];
  readonly credentialsSecretName?: string;
  readonly shardLengthMs: number;
  /** EventBridge Scheduler expression: rate(...) or cron(...). */
  readonly schedule: string;
  /** Time between two scheduled runs, for the staleness alarm. */
  readonly schedulePeriodMs: number;
  readonly lagMs: number;
  readonly initialLookbackMs: number;
  /** Shards pulled in parallel; Prometheus serves at most 10 concurrent remote reads by default. */
  readonly maxConcurrency: number;
  readonly vpc?: VpcConfig;
}

export interface BucketConfig {
  readonly bucketName?: string;
  /** Key prefix inside the bucket, '' or segments without leading/trailing '/'. */
  readonly prefix: string;
  readonly standardIaDays: number | null;
  readonly glacierIrDays: number | null;
  readonly archiveDays: number | null;
  readonly archiveClass: ArchiveClass;
  readonly expirationDays: number | null;
  readonly noncurrentExpirationDays: number;
  readonly abortIncompleteUploadDays: number;
  readonly objectLock: { readonly mode: 'GOVERNANCE' | 'COMPLIANCE'; readonly days: number } | null;
  /** An existing KMS key; a new one (with rotation) when absent. */
  readonly kmsKeyArn?: string;
  readonly accessLogsExpirationDays: number;
}

export interface RestoreConfig {
  readonly targetUrl?: string;
  readonly targetSecretName?: string;
  /** Remote-write requests in flight per shard. */
  readonly concurrency: number;
  /** Shards restored in parallel (the Map's MaxConcurrency). */
  readonly shardConcurrency: number;
  readonly batchSamples: number;
  readonly thawTier: ThawTier;
  readonly thawDays: number;
  readonly pollIntervalMs: number;
  readonly expeditedPollIntervalMs: number;
}

export interface MonitoringConfig {
  readonly alarmEmail?: string;
  /** Backup staleness alarm: newest committed data older than this many schedule periods. */
  readonly stalenessFactor: number;
  readonly logRetentionDays: number;
  readonly stateMachineLogLevel: 'ALL' | 'ERROR';
}

export interface FunctionSettings {
  readonly memoryMb: number;
  readonly timeoutMs: number;
}

export interface PromvaultConfig {
  readonly stackName: string;
  readonly sources: readonly SourceConfig[];
  readonly bucket: BucketConfig;
  readonly restore: RestoreConfig;
  readonly monitoring: MonitoringConfig;
  readonly functions: Readonly<Record<FunctionRole, FunctionSettings>>;
  readonly inlinePlanLimit: number;
  /** The VPC shared by every source that sets one; the network functions run in it. */
  readonly vpc?: VpcConfig;
}

/** Lambda allows 4 KiB of environment in total; PROMVAULT_CONFIG must leave room for the rest. */
const MAX_RUNTIME_CONFIG_BYTES = 3500;

/** Parses the `promvault` context value. */
export function parseConfig(raw: unknown): PromvaultConfig {
  const root = new Reader(CONTEXT_KEY, raw);
  if (!root.present) root.fail('is missing: add a "promvault" object to "context" in cdk.json (see docs/DEPLOY.md)');
  root.onlyKeys(['stackName', 'sources', 'bucket', 'restore', 'monitoring', 'functions', 'inlinePlanLimit']);

  const monitoring = parseMonitoring(root.field('monitoring'));
  const bucket = parseBucket(root.field('bucket'));
  const sourcesReader = root.field('sources');
  const sources = sourcesReader.items().map((r) => parseSource(r, monitoring.stalenessFactor));
  if (sources.length === 0) sourcesReader.fail('lists no source: add at least one {"name": ..., "remoteReadUrl": ...}');
  checkUniqueNames(sourcesReader, sources);
  const vpc = sharedVpc(sourcesReader, sources);
  const restore = parseRestore(root.field('restore'), bucket);

  const config: PromvaultConfig = {
    stackName: root
      .field('stackName')
      .matching(/^[A-Za-z][A-Za-z0-9-]{0,127}$/, 'use letters, digits and -', 'Promvault'),
    sources,
    bucket,
    restore,
    monitoring,
    functions: parseFunctions(root.field('functions')),
    inlinePlanLimit: root.field('inlinePlanLimit').integer(100, 1, 400),
    ...(vpc !== undefined ? { vpc } : {}),
  };
  const size = Buffer.byteLength(JSON.stringify(toRuntimeConfig(config, 'x'.repeat(63))));
  if (size > MAX_RUNTIME_CONFIG_BYTES) {
    sourcesReader.fail(
      `the runtime configuration takes ${size} bytes, more than the ${MAX_RUNTIME_CONFIG_BYTES} that fit in a Lambda ` +
        'environment: shorten selectors or URLs, or split the sources over two stacks (two cdk.json contexts)',
    );
  }
  return config;
}

/** The handlers' view of the configuration (PROMVAULT_CONFIG), see lambdas/handlers/contracts.ts. */
export function toRuntimeConfig(config: PromvaultConfig, bucketName: string): RuntimeConfig {
  const r = config.restore;
  return {
    bucket: bucketName,
    prefix: config.bucket.prefix,
    sources: config.sources.map((s) => ({
      name: s.name,
      remoteReadUrls: [s.remoteReadUrl, ...s.replicas],
      selectors: s.selectors,
      ...(s.credentialsSecretName !== undefined ? { credentialsSecretName: s.credentialsSecretName } : {}),
      shardLengthMs: s.shardLengthMs,
      lagMs: s.lagMs,
      initialLookbackMs: s.initialLookbackMs,
    })),
    restore: {
      ...(r.targetUrl !== undefined ? { targetUrl: r.targetUrl } : {}),
      ...(r.targetSecretName !== undefined ? { targetSecretName: r.targetSecretName } : {}),
      concurrency: r.concurrency,
      batchSamples: r.batchSamples,
      thawTier: r.thawTier,
      thawDays: r.thawDays,
    },
    inlinePlanLimit: config.inlinePlanLimit,
  };
}
