/**
 * ArchiveThawer on S3: HeadObject tells the storage class and the state of a restore
 * (`x-amz-restore: ongoing-request="true"|"false"`); RestoreObject starts one. GLACIER_IR,
 * STANDARD, STANDARD_IA and the other instant tiers are readable as they are.
 */
import { HeadObjectCommand, RestoreObjectCommand, type HeadObjectCommandOutput, S3Client } from '@aws-sdk/client-s3';
import { ObjectNotFoundError, PermanentError, TransientError } from '../core/errors';
import type { ArchiveStatus, ArchiveThawer, ThawTier } from '../core/restore/thaw';

export interface S3ArchiveThawerOptions {
  readonly bucket: string;
  /** Key prefix inside the bucket, as the S3Store uses it; '' for the root. */
  readonly prefix?: string;
  readonly client?: S3Client;
}

const ARCHIVE_CLASSES = new Set(['GLACIER', 'DEEP_ARCHIVE']);

/** The archive state that a HeadObject answer describes. */
export function archiveStatusOf(
  head: Pick<HeadObjectCommandOutput, 'StorageClass' | 'Restore' | 'ArchiveStatus'>,
): ArchiveStatus {
  // Intelligent-Tiering's archive tiers keep StorageClass INTELLIGENT_TIERING and set ArchiveStatus.
  const archived = ARCHIVE_CLASSES.has(head.StorageClass ?? '') || head.ArchiveStatus !== undefined;
  if (!archived) return 'readable';
  const restore = head.Restore ?? '';
  if (/ongoing-request\s*=\s*"true"/.test(restore)) return 'restoring';
  if (/ongoing-request\s*=\s*"false"/.test(restore)) return 'readable';
  return 'archived';
}

interface SdkError {
  name?: string;
  $metadata?: { httpStatusCode?: number };
}

export class S3ArchiveThawer implements ArchiveThawer {
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly client: S3Client;

  constructor(options: S3ArchiveThawerOptions) {
    this.bucket = options.bucket;
    this.prefix = (options.prefix ?? '')
      .split('/')
      .filter((s) => s !== '')
      .join('/');
    this.client = options.client ?? new S3Client({});
  }

  private bucketKey(key: string): string {
    return this.prefix === '' ? key : `${this.prefix}/${key}`;
  }

  private fail(action: string, key: string, err: unknown): Error {
    const e = err as SdkError;
    const status = e?.$metadata?.httpStatusCode;
    const what = `cannot ${action} ${key} in s3://${this.bucket}/${this.prefix}: ${e?.name ?? String(err)}`;
    if (status === 404 || e?.name === 'NotFound' || e?.name === 'NoSuchKey')
      return new ObjectNotFoundError(key, `s3://${this.bucket}/${this.prefix}`);
    if (status === 403)
      return new PermanentError(`${what}; grant s3:GetObject and s3:RestoreObject on the shard objects`, {
        cause: err,
      });
    if (status === undefined || status >= 500 || status === 429 || e?.name === 'SlowDown')
      return new TransientError(what, { cause: err });
    return new PermanentError(what, { cause: err });
  }

  private async head(key: string): Promise<HeadObjectCommandOutput> {
    try {
      return await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.bucketKey(key) }));
    } catch (err) {
      throw this.fail('inspect', key, err);
    }
  }

  async status(key: string): Promise<ArchiveStatus> {
    return archiveStatusOf(await this.head(key));
  }

  async requestThaw(key: string, tier: ThawTier, days: number): Promise<ArchiveStatus> {
    const head = await this.head(key);
    const status = archiveStatusOf(head);
    if (status !== 'archived') return status;
    // Deep Archive has no Expedited retrieval; Intelligent-Tiering archives take no Days.
    const effectiveTier =
      tier === 'Expedited' && (head.StorageClass === 'DEEP_ARCHIVE' || head.ArchiveStatus === 'DEEP_ARCHIVE_ACCESS')
        ? 'Standard'
        : tier;
    const request =
      head.ArchiveStatus !== undefined
        ? { GlacierJobParameters: { Tier: effectiveTier } }
        : { Days: days, GlacierJobParameters: { Tier: effectiveTier } };
    try {
      await this.client.send(
        new RestoreObjectCommand({ Bucket: this.bucket, Key: this.bucketKey(key), RestoreRequest: request }),
      );
      return 'restoring';
    } catch (err) {
      const name = (err as SdkError)?.name;
      if (name === 'RestoreAlreadyInProgress') return 'restoring';
      if (name === 'ObjectAlreadyInActiveTierError') return 'readable';
      throw this.fail('thaw', key, err);
    }
  }
}
