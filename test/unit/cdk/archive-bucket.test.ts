import { Match } from 'aws-cdk-lib/assertions';
import { buildStack, minimalConfig } from './helpers';

type Rule = {
  Id: string;
  Prefix?: string;
  Transitions?: { StorageClass: string; TransitionInDays: number }[];
  ExpirationInDays?: number;
};

function archiveBucket(template: ReturnType<typeof buildStack>['template']) {
  const buckets = template.findResources('AWS::S3::Bucket', {
    Properties: {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms' } }],
      },
    },
  });
  expect(Object.keys(buckets)).toHaveLength(1);
  return Object.values(buckets)[0] as {
    Properties: { LifecycleConfiguration: { Rules: Rule[] } } & Record<string, unknown>;
  };
}

describe('archive bucket with the default tiers', () => {
  const { template } = buildStack(minimalConfig({ bucket: { prefix: 'promvault' } }));
  const rules = archiveBucket(template).Properties.LifecycleConfiguration.Rules;

  test('shards under the prefix go Standard → IA (30) → Glacier IR (90) → Glacier Flexible (180) → expire (365)', () => {
    expect(rules.find((r) => r.Id === 'shards-tiering')).toEqual({
      Id: 'shards-tiering',
      Prefix: 'promvault/shards/',
      Status: 'Enabled',
      Transitions: [
        { StorageClass: 'STANDARD_IA', TransitionInDays: 30 },
        { StorageClass: 'GLACIER_IR', TransitionInDays: 90 },
        { StorageClass: 'GLACIER', TransitionInDays: 180 },
      ],
      ExpirationInDays: 365,
      NoncurrentVersionExpiration: { NoncurrentDays: 30 },
    });
  });

  test('only shards/ changes tier: manifests, checkpoints, plans and restores stay in Standard', () => {
    const tiering = rules.filter((r) => (r.Transitions ?? []).length > 0);
    expect(tiering.map((r) => r.Prefix)).toEqual(['promvault/shards/']);
    // Manifests expire with their shards, so the catalog never names a deleted object.
    expect(rules.find((r) => r.Id === 'manifests-expiry')).toMatchObject({
      Prefix: 'promvault/manifests/',
      ExpirationInDays: 365,
    });
  });

  test('incomplete multipart uploads are aborted and noncurrent versions expire under the prefix', () => {
    expect(rules.find((r) => r.Id === 'housekeeping')).toEqual({
      Id: 'housekeeping',
      Prefix: 'promvault/',
      Status: 'Enabled',
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
      NoncurrentVersionExpiration: { NoncurrentDays: 30 },
      ExpiredObjectDeleteMarker: true,
    });
  });

  test('SSE-KMS with a rotated key and a bucket key, all public access blocked, versioned, access-logged', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          {
            BucketKeyEnabled: true,
            ServerSideEncryptionByDefault: {
              SSEAlgorithm: 'aws:kms',
              KMSMasterKeyID: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ArchiveKey'), 'Arn'] },
            },
          },
        ],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      VersioningConfiguration: { Status: 'Enabled' },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      LoggingConfiguration: {
        DestinationBucketName: { Ref: Match.stringLikeRegexp('^ArchiveAccessLogs') },
        LogFilePrefix: 'archive/',
      },
    });
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    expect(archiveBucket(template).Properties.ObjectLockEnabled).toBeUndefined();
  });

  test('the bucket policy denies every request without TLS (and TLS below 1.2)', () => {
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: Match.stringLikeRegexp('^ArchiveBucket') },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Principal: { AWS: '*' },
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } },
          }),
        ]),
      },
    });
  });

  test('the access-log bucket is SSE-S3 (what S3 log delivery supports), private, TLS-only and expires logs', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LifecycleConfiguration: { Rules: [Match.objectLike({ ExpirationInDays: 90 })] },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: Match.stringLikeRegexp('^ArchiveAccessLogs') },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });
});

describe('archive bucket with configured tiers', () => {
  test('Deep Archive, no Standard-IA, no expiry, at the bucket root', () => {
    const { template } = buildStack(
      minimalConfig({
        bucket: {
          transitions: { standardIaDays: null, glacierIrDays: 15, archiveDays: 120, archiveClass: 'DEEP_ARCHIVE' },
          expirationDays: null,
        },
      }),
    );
    const rules = archiveBucket(template).Properties.LifecycleConfiguration.Rules;
    expect(rules.find((r) => r.Id === 'shards-tiering')).toMatchObject({
      Prefix: 'shards/',
      Transitions: [
        { StorageClass: 'GLACIER_IR', TransitionInDays: 15 },
        { StorageClass: 'DEEP_ARCHIVE', TransitionInDays: 120 },
      ],
    });
    expect(rules.find((r) => r.Id === 'shards-tiering')?.ExpirationInDays).toBeUndefined();
    expect(rules.map((r) => r.Id)).toEqual(['shards-tiering', 'housekeeping']);
  });

  test('Object Lock in compliance mode, and an existing KMS key instead of a new one', () => {
    const keyArn = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const { template } = buildStack(
      minimalConfig({ bucket: { objectLock: { mode: 'COMPLIANCE', days: 30 }, kmsKeyArn: keyArn } }),
    );
    template.hasResourceProperties('AWS::S3::Bucket', {
      ObjectLockEnabled: true,
      ObjectLockConfiguration: {
        ObjectLockEnabled: 'Enabled',
        Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 30 } },
      },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { KMSMasterKeyID: keyArn } }],
      },
    });
    template.resourceCountIs('AWS::KMS::Key', 0);
  });
});
