/**
 * The archive: one SSE-KMS bucket holding shards, manifests, checkpoints, plans and restore
 * runs under one key prefix, with an access-log bucket beside it. Only `shards/` moves down
 * the storage tiers; the small files every run reads stay in S3 Standard.
 */
import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { BucketConfig } from '../config';

/** The top-level folders under the prefix; see lambdas/core/shard.ts for the layout. */
export type ArchiveDir = 'shards' | 'manifests' | 'checkpoints' | 'plans' | 'restores' | 'snapshots';

/** What one principal may do, folder by folder. */
export interface PrefixAccess {
  /** Folders it may read (s3:GetObject, which also covers HeadObject). @default none */
  readonly read?: readonly ArchiveDir[];
  /** Folders it may write (s3:PutObject, s3:AbortMultipartUpload). @default none */
  readonly write?: readonly ArchiveDir[];
  /** Folders whose archived objects it may thaw (s3:RestoreObject). @default none */
  readonly restore?: readonly ArchiveDir[];
  /** Folders it may delete objects from (s3:DeleteObject). @default none */
  readonly delete?: readonly ArchiveDir[];
}

export interface ArchiveBucketProps {
  /** Lifecycle, lock and key settings from cdk.json. */
  readonly config: BucketConfig;
  /** Overrides merged over archiveBucketDefaults(). @default none */
  readonly bucketProps?: Partial<s3.BucketProps>;
  /** Overrides merged over accessLogBucketDefaults(). @default none */
  readonly accessLogBucketProps?: Partial<s3.BucketProps>;
}

/** `prefix/` or '' : what every bucket key of the archive starts with. */
export function keyPrefix(prefix: string): string {
  return prefix === '' ? '' : `${prefix}/`;
}

const days = (n: number) => Duration.days(n);

/** Lifecycle rules: tiering and expiry for shards, expiry for their manifests, housekeeping for the rest. */
export function lifecycleRules(config: BucketConfig): s3.LifecycleRule[] {
  const p = keyPrefix(config.prefix);
  const tiers: [number | null, s3.StorageClass][] = [
    [config.standardIaDays, s3.StorageClass.INFREQUENT_ACCESS],
    [config.glacierIrDays, s3.StorageClass.GLACIER_INSTANT_RETRIEVAL],
    [
      config.archiveDays,
      config.archiveClass === 'DEEP_ARCHIVE' ? s3.StorageClass.DEEP_ARCHIVE : s3.StorageClass.GLACIER,
    ],
  ];
  const active = tiers.filter((t): t is [number, s3.StorageClass] => t[0] !== null);
  const expiry = config.expirationDays === null ? {} : { expiration: days(config.expirationDays) };
  const rules: s3.LifecycleRule[] = [
    {
      id: 'shards-tiering',
      prefix: `${p}shards/`,
      transitions: active.map(([d, storageClass]) => ({ storageClass, transitionAfter: days(d) })),
      ...expiry,
      // A noncurrent version only exists until noncurrentExpirationDays; tier it only if it lives long enough.
      noncurrentVersionTransitions: active
        .filter(([d]) => d < config.noncurrentExpirationDays)
        .map(([d, storageClass]) => ({ storageClass, transitionAfter: days(d) })),
      noncurrentVersionExpiration: days(config.noncurrentExpirationDays),
    },
    // Everything under the prefix: noncurrent versions (checkpoints are rewritten every run) and stale uploads.
    {
      id: 'housekeeping',
      ...(p === '' ? {} : { prefix: p }),
      abortIncompleteMultipartUploadAfter: days(config.abortIncompleteUploadDays),
      noncurrentVersionExpiration: days(config.noncurrentExpirationDays),
      expiredObjectDeleteMarker: true,
    },
  ];
  // A manifest without its object is a broken catalog entry: manifests expire with their shards.
  if (config.expirationDays !== null) {
    rules.push({ id: 'manifests-expiry', prefix: `${p}manifests/`, expiration: days(config.expirationDays) });
  }
  return rules;
}

/** Secure defaults for the archive bucket. */
export function archiveBucketDefaults(config: BucketConfig, key: kms.IKey, accessLogs: s3.IBucket): s3.BucketProps {
  return {
    ...(config.bucketName !== undefined ? { bucketName: config.bucketName } : {}),
    encryption: s3.BucketEncryption.KMS,
    encryptionKey: key,
    // One KMS call per bucket key instead of per object: what keeps KMS cost flat (docs/COST.md).
    bucketKeyEnabled: true,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    enforceSSL: true,
    minimumTLSVersion: 1.2,
    versioned: true,
    lifecycleRules: lifecycleRules(config),
    serverAccessLogsBucket: accessLogs,
    serverAccessLogsPrefix: 'archive/',
    ...(config.objectLock === null
      ? {}
      : {
          objectLockEnabled: true,
          objectLockDefaultRetention:
            config.objectLock.mode === 'COMPLIANCE'
              ? s3.ObjectLockRetention.compliance(days(config.objectLock.days))
              : s3.ObjectLockRetention.governance(days(config.objectLock.days)),
        }),
  };
}

/** Secure defaults for the bucket receiving S3 server access logs (which must use SSE-S3). */
export function accessLogBucketDefaults(config: BucketConfig): s3.BucketProps {
  return {
    encryption: s3.BucketEncryption.S3_MANAGED,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    enforceSSL: true,
    minimumTLSVersion: 1.2,
    versioned: true,
    lifecycleRules: [
      {
        id: 'expire-logs',
        expiration: days(config.accessLogsExpirationDays),
        noncurrentVersionExpiration: days(1),
        abortIncompleteMultipartUploadAfter: days(1),
      },
    ],
  };
}

export class ArchiveBucket extends Construct {
  readonly bucket: s3.Bucket;
  readonly accessLogs: s3.Bucket;
  readonly key: kms.IKey;
  /** `prefix/` or ''. */
  readonly keyPrefix: string;

  constructor(scope: Construct, id: string, props: ArchiveBucketProps) {
    super(scope, id);
    const { config } = props;
    this.keyPrefix = keyPrefix(config.prefix);
    this.key =
      config.kmsKeyArn !== undefined
        ? kms.Key.fromKeyArn(this, 'Key', config.kmsKeyArn)
        : new kms.Key(this, 'Key', {
            description: `promvault archive (${Stack.of(this).stackName})`,
            enableKeyRotation: true,
          });
    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      ...accessLogBucketDefaults(config),
      ...props.accessLogBucketProps,
    });
    Validations.of(this.accessLogs).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This is the server access log bucket of the archive; logging its own access would recurse.',
    });
    this.bucket = new s3.Bucket(this, 'Bucket', {
      ...archiveBucketDefaults(config, this.key, this.accessLogs),
      ...props.bucketProps,
    });
  }

  /** Bucket-key pattern of a folder: `<prefix>/shards/*`. */
  keysOf(dir: ArchiveDir): string {
    return `${this.keyPrefix}${dir}/*`;
  }

  /** Grants folder-scoped object access, plus the KMS use it needs. */
  grantPrefixes(grantee: iam.IGrantable, access: PrefixAccess): void {
    const objects = (dirs: readonly ArchiveDir[] | undefined) =>
      (dirs ?? []).map((d) => this.bucket.arnForObjects(this.keysOf(d)));
    const add = (actions: string[], resources: string[], conditions?: Record<string, Record<string, unknown>>) => {
      if (resources.length === 0) return;
      grantee.grantPrincipal.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions, resources, ...(conditions ? { conditions } : {}) }),
      );
    };
    add(['s3:GetObject'], objects(access.read));
    add(['s3:PutObject', 's3:AbortMultipartUpload'], objects(access.write));
    add(['s3:RestoreObject'], objects(access.restore));
    add(['s3:DeleteObject'], objects(access.delete));
    // Unconditional: without s3:ListBucket, S3 answers 403 instead of 404 for a missing key, and
    // the handlers probe for checkpoints and manifests that may not exist yet.
    add(['s3:ListBucket'], [this.bucket.bucketArn]);
    this.grantKeyUse(grantee, (access.write ?? []).length > 0);
  }

  /** KMS use through S3 only: Decrypt to read, GenerateDataKey too to write. */
  grantKeyUse(grantee: iam.IGrantable, write: boolean): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: write ? ['kms:Decrypt', 'kms:GenerateDataKey'] : ['kms:Decrypt'],
        resources: [this.key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${Stack.of(this).region}.amazonaws.com` } },
      }),
    );
  }
}
