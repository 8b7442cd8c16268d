/**
 * The AWS API calls of a handler as IAM sees them: action, resource ARN and the context keys a
 * policy condition may test. Recorded at the ports: a store call (RecordingStore) becomes the S3
 * requests S3Store sends for it (lambdas/adapters/s3-store.ts) and the KMS use SSE-KMS implies;
 * the thawer and Secrets Manager are the real adapters (s3-thaw.ts, secrets.ts) over a client
 * that records each command it is sent. test/unit/cdk/iam.test.ts evaluates them against the
 * synthesized template.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { S3ArchiveThawer } from '../../lambdas/adapters/s3-thaw';
import { SecretsManagerCredentials } from '../../lambdas/adapters/secrets';
import type { ObjectStore } from '../../lambdas/core/ports';
import type { ArchiveThawer } from '../../lambdas/core/restore/thaw';
import type { StoreCall } from './recording-store';

export interface AwsCall {
  readonly action: string;
  readonly resource: string;
  readonly context: Readonly<Record<string, string>>;
  /** What made the call: a store operation, an SDK command, the Lambda runtime. */
  readonly origin: string;
}

/** The archive as the template names it: bucket ARN, its SSE-KMS key, the key prefix. */
export interface ArchiveArns {
  readonly bucketArn: string;
  readonly keyArn: string;
  /** '' or `prefix/`. */
  readonly keyPrefix: string;
  readonly region: string;
}

// The bucket policy denies requests without TLS; every SDK request uses it.
const TLS = { 'aws:SecureTransport': 'true' };

function kmsCalls(archive: ArchiveArns, origin: string, ...actions: string[]): AwsCall[] {
  const context = { 'kms:ViaService': `s3.${archive.region}.amazonaws.com` };
  return actions.map((action) => ({ action, resource: archive.keyArn, context, origin }));
}

/** The S3 (and, through S3, KMS) requests S3Store sends for one store call. */
export function s3CallsOf(call: StoreCall, archive: ArchiveArns): AwsCall[] {
  const object = `${archive.bucketArn}/${archive.keyPrefix}${call.key}`;
  const origin = `store.${call.op} ${call.key}`;
  const s3 = (action: string, resource = object, context: Record<string, string> = {}): AwsCall => ({
    action,
    resource,
    context: { ...TLS, ...context },
    origin,
  });
  // A missing key is a 404 only to a principal that may list the bucket (else 403).
  const missing = call.missing === true ? [s3('s3:ListBucket', archive.bucketArn)] : [];
  switch (call.op) {
    case 'get':
      return [s3('s3:GetObject'), ...missing, ...(call.missing ? [] : kmsCalls(archive, origin, 'kms:Decrypt'))];
    case 'head':
      // HeadObject is authorized as s3:GetObject and decrypts nothing; a 404 is followed by HeadBucket.
      return [s3('s3:GetObject'), ...missing];
    case 'put':
      // lib-storage uploads large bodies in parts and aborts a failed upload; SSE-KMS parts need both key actions.
      return [
        s3('s3:PutObject'),
        s3('s3:AbortMultipartUpload'),
        ...kmsCalls(archive, origin, 'kms:GenerateDataKey', 'kms:Decrypt'),
      ];
    case 'list':
      return [s3('s3:ListBucket', archive.bucketArn, { 's3:prefix': `${archive.keyPrefix}${call.key}` })];
    case 'delete':
      return [s3('s3:DeleteObject')];
  }
}

type Send = (command: { constructor: { name: string }; input: Record<string, unknown> }) => Promise<unknown>;

/**
 * Glacier as the thawer sees it: every object starts archived; RestoreObject starts a restore,
 * which has finished by the next HeadObject. `archived: false` is a bucket without archive tier.
 */
export class GlacierSimulation {
  private readonly restoring = new Map<string, 'restoring' | 'restored'>();
  constructor(private readonly archived = true) {}

  /** An S3ArchiveThawer over the objects of `store`, whose calls go to `record`. */
  thawer(store: ObjectStore, bucket: string, prefix: string, record: (call: AwsCall) => void): ArchiveThawer {
    const send: Send = async (command) => {
      const { Bucket, Key } = command.input as { Bucket: string; Key: string };
      const resource = `arn:aws:s3:::${Bucket}/${Key}`;
      const name = command.constructor.name;
      const action = { HeadObjectCommand: 's3:GetObject', RestoreObjectCommand: 's3:RestoreObject' }[name];
      if (action === undefined) throw new Error(`GlacierSimulation: unexpected ${name}`);
      const origin = `thawer ${name} ${Key}`;
      record({ action, resource, context: TLS, origin });
      if ((await store.head(prefix === '' ? Key : Key.slice(prefix.length + 1))) === undefined) {
        // S3 answers 404 only to a principal that may list the bucket (else 403).
        record({ action: 's3:ListBucket', resource: `arn:aws:s3:::${Bucket}`, context: TLS, origin });
        throw Object.assign(new Error('Not Found'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } });
      }
      if (name === 'RestoreObjectCommand') {
        this.restoring.set(Key, 'restoring');
        return {};
      }
      if (!this.archived) return { StorageClass: 'STANDARD_IA' };
      const state = this.restoring.get(Key);
      if (state === 'restoring') this.restoring.set(Key, 'restored');
      if (state === undefined) return { StorageClass: 'GLACIER' };
      return {
        StorageClass: 'GLACIER',
        Restore: 'ongoing-request="false", expiry-date="Fri, 1 Jan 2100 00:00:00 GMT"',
      };
    };
    return new S3ArchiveThawer({ bucket, prefix, client: { send } as unknown as S3Client });
  }
}

/** The ARN Secrets Manager gives a secret: its name, '-' and six random characters. */
export function secretArn(name: string, region: string, account: string): string {
  return `arn:aws:secretsmanager:${region}:${account}:secret:${name}-AbCdEf`;
}

/** The real Secrets Manager provider over a client that records each GetSecretValue and answers from `values`. */
export function recordingSecrets(
  values: Readonly<Record<string, unknown>>,
  where: { region: string; account: string },
  record: (call: AwsCall) => void,
): SecretsManagerCredentials {
  const send: Send = async (command) => {
    const name = command.constructor.name;
    const id = String(command.input.SecretId);
    if (name !== 'GetSecretValueCommand') throw new Error(`recordingSecrets: unexpected ${name}`);
    // The secret's own key is aws/secretsmanager: no KMS grant is needed for it.
    record({
      action: 'secretsmanager:GetSecretValue',
      resource: secretArn(id, where.region, where.account),
      context: TLS,
      origin: `secrets GetSecretValue ${id}`,
    });
    if (values[id] === undefined) throw Object.assign(new Error(id), { name: 'ResourceNotFoundException' });
    return { SecretString: JSON.stringify(values[id]) };
  };
  return new SecretsManagerCredentials({ client: { send } as unknown as SecretsManagerClient });
}

/** What Lambda itself does with the function's role on each invocation: write its log stream. */
export function runtimeCalls(logGroupArn: string, stream: string): AwsCall[] {
  const resource = `${logGroupArn.replace(/:\*$/, '')}:log-stream:${stream}`;
  return ['logs:CreateLogStream', 'logs:PutLogEvents'].map((action) => ({
    action,
    resource,
    context: {},
    origin: 'Lambda runtime (function logs and EMF metrics)',
  }));
}
