/**
 * ObjectStore on S3 (or an S3-compatible server): key `a/b` is the object `<prefix>/a/b` in
 * the bucket.
 *
 * put streams the body through `@aws-sdk/lib-storage` Upload, hashing and counting the bytes
 * on the way. Small bodies go up in one PutObject, which is all-or-nothing; larger ones as a
 * multipart upload, which S3 makes visible only on CompleteMultipartUpload. A failed upload is
 * aborted (leavePartsOnError: false), so a failed put leaves nothing readable at the key and
 * does not touch an object already there.
 *
 * Errors become TransientError (5xx, throttling, network: the SDK has already retried),
 * InputError (a missing bucket, another region: the --store or --region to fix) or
 * PermanentError (access denied, bad request), with a message that says what to fix. Errors
 * thrown by a put's body are passed on unchanged.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type ListObjectsV2CommandOutput,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import {
  InputError,
  ObjectNotFoundError,
  PermanentError,
  PreconditionFailedError,
  TransientError,
} from '../core/errors';
import { isNetworkError } from './http-retry';
import type { ListOptions, ObjectInfo, ObjectStore, PutResult, VersionedObject } from '../core/ports';

export interface S3StoreOptions {
  readonly bucket: string;
  /** Key prefix inside the bucket, without leading or trailing '/'; '' for the bucket root. */
  readonly prefix?: string;
  /** A ready client (tests, custom credentials). Otherwise one is created from the options below. */
  readonly client?: S3Client;
  /** URL of an S3-compatible server (MinIO, s3rver, ...): path-style addressing is used. */
  readonly endpoint?: string;
  readonly region?: string;
  /** Longest silence on an open S3 connection, when the client is created here. @default S3_TIMEOUTS.requestMs */
  readonly requestTimeoutMs?: number;
  /** Multipart part size; at least 5 MiB. */
  readonly partSizeBytes?: number;
  /** Parts uploaded in parallel per put. */
  readonly queueSize?: number;
}

/**
 * Every S3 client's bounds (README, "Timeouts"): time to connect, and longest silence on an open
 * connection (a stalled transfer or an endpoint that never answers); the SDK retries each.
 */
export const S3_TIMEOUTS = { connectMs: 5_000, requestMs: 60_000 } as const;

/** A client for AWS or, with `endpoint`, an S3-compatible server. */
export function createS3Client(options: { endpoint?: string; region?: string; requestTimeoutMs?: number }): S3Client {
  return new S3Client({
    requestHandler: {
      connectionTimeout: S3_TIMEOUTS.connectMs,
      requestTimeout: options.requestTimeoutMs ?? S3_TIMEOUTS.requestMs,
      // Without it the handler only logs a warning and keeps waiting.
      throwOnRequestTimeout: true,
    },
    ...(options.region !== undefined
      ? { region: options.region }
      : options.endpoint !== undefined
        ? { region: 'us-east-1' }
        : {}),
    ...(options.endpoint !== undefined ? { endpoint: options.endpoint, forcePathStyle: true } : {}),
    // Checksums only where S3 requires them: with the newer defaults the SDK sends streamed
    // bodies aws-chunked with a trailing checksum, which S3-compatible servers (s3rver) store
    // framing and all.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

function statusOf(err: unknown): number | undefined {
  return (err as SdkError)?.$metadata?.httpStatusCode;
}

function describe(err: unknown): string {
  const e = err as SdkError;
  if (e === null || typeof e !== 'object') return String(err);
  const message = e.message?.replace(/^AWS SDK error wrapper for (Error: )?/, '');
  const parts = [e.name, e.code, message].filter(
    (p): p is string => typeof p === 'string' && p !== '' && p !== 'Error',
  );
  return [...new Set(parts)].join(': ') || String(err);
}

export class S3Store implements ObjectStore {
  readonly location: string;
  readonly bucket: string;
  readonly prefix: string;
  private readonly client: S3Client;
  private readonly endpoint: string | undefined;
  private readonly requestTimeoutMs: number | undefined;
  private readonly partSizeBytes: number | undefined;
  private readonly queueSize: number;

  constructor(options: S3StoreOptions) {
    this.bucket = options.bucket;
    this.prefix = (options.prefix ?? '')
      .split('/')
      .filter((s) => s !== '')
      .join('/');
    this.location = `s3://${this.bucket}${this.prefix === '' ? '' : `/${this.prefix}`}`;
    this.endpoint = options.endpoint;
    this.requestTimeoutMs = options.client
      ? options.requestTimeoutMs
      : (options.requestTimeoutMs ?? S3_TIMEOUTS.requestMs);
    this.client =
      options.client ??
      createS3Client({ endpoint: options.endpoint, region: options.region, requestTimeoutMs: this.requestTimeoutMs });
    this.partSizeBytes = options.partSizeBytes;
    this.queueSize = options.queueSize ?? 4;
  }

  /** The bucket key of a store key: prefix + '/' + key, never with a double slash. */
  objectKey(key: string): string {
    // The same rules as DirectoryStore, so a key that works in one store works in the other.
    const segments = key.split('/');
    if (key === '' || segments.some((s) => s === '' || s === '.' || s === '..') || key.includes('\\')) {
      throw new InputError(
        `object key ${JSON.stringify(key)} is not usable in ${this.location}: it must be relative, without empty, '.' or '..' segments`,
      );
    }
    return this.prefix === '' ? key : `${this.prefix}/${key}`;
  }

  private storeKey(objectKey: string): string {
    return this.prefix === '' ? objectKey : objectKey.slice(this.prefix.length + 1);
  }

  private describeEndpoint(): string {
    return this.endpoint ?? 'the AWS S3 endpoint';
  }

  /** Names the setting when the SDK gave up waiting. */
  private timeoutHint(err: unknown): string {
    const e = err as SdkError;
    if (e?.name !== 'TimeoutError' && !/timed? ?out/i.test(e?.message ?? '')) return '';
    const limit = this.requestTimeoutMs === undefined ? 'its timeout' : `the S3 timeout of ${this.requestTimeoutMs} ms`;
    return ` (no answer within ${limit}; change it with --s3-timeout)`;
  }

  /** A bucket that does not exist is a --store to fix (bad input), not a failure of S3. */
  private missingBucket(err: unknown): InputError {
    return new InputError(`bucket ${this.bucket} does not exist: create it or fix --store`, { cause: err });
  }

  /** Maps an SDK error to the error classes of the core, with a message saying what to fix. */
  private classify(action: string, key: string | undefined, err: unknown): Error {
    const what = key === undefined ? `${action} ${this.location}` : `${action} ${key} in ${this.location}`;
    const status = statusOf(err);
    const name = (err as SdkError)?.name;
    if (name === 'CredentialsProviderError') {
      return new PermanentError(`cannot ${what}: no AWS credentials found (${describe(err)}); configure credentials`, {
        cause: err,
      });
    }
    if (status === undefined) {
      if (isNetworkError(err)) {
        return new TransientError(
          `cannot ${what}: cannot reach S3 endpoint ${this.describeEndpoint()}: ${describe(err)}${this.timeoutHint(err)}`,
          {
            cause: err,
          },
        );
      }
      return new PermanentError(`cannot ${what}: ${describe(err)}`, { cause: err });
    }
    if (name === 'NoSuchBucket') {
      return this.missingBucket(err);
    }
    if (status === 403) {
      return new PermanentError(
        `cannot ${what}: access denied (${describe(err)}); grant s3:ListBucket on the bucket and s3:GetObject, ` +
          `s3:PutObject, s3:DeleteObject on ${this.location}/*, or check the credentials`,
        { cause: err },
      );
    }
    if (status === 301 || name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed') {
      return new InputError(`cannot ${what}: bucket ${this.bucket} is in another region: set --region to its region`, {
        cause: err,
      });
    }
    if (status >= 500 || status === 429 || name === 'SlowDown' || name === 'RequestTimeout') {
      return new TransientError(`cannot ${what}: S3 answered ${status} (${describe(err)})`, { cause: err });
    }
    return new PermanentError(`cannot ${what}: S3 answered ${status} (${describe(err)})`, { cause: err });
  }

  async put(key: string, body: AsyncIterable<Uint8Array>): Promise<PutResult> {
    const objectKey = this.objectKey(key);
    const hash = createHash('sha256');
    let size = 0;
    let bodyFailed = false;
    let bodyError: unknown;
    const tapped = async function* (): AsyncGenerator<Uint8Array> {
      try {
        for await (const chunk of body) {
          if (chunk.byteLength === 0) continue; // an empty chunk would look like the end in a byte stream
          hash.update(chunk);
          size += chunk.byteLength;
          yield chunk;
        }
      } catch (err) {
        bodyFailed = true;
        bodyError = err;
        throw err;
      }
    };
    const readable = Readable.from(tapped(), { objectMode: false, highWaterMark: 1 << 20 });
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: objectKey, Body: readable },
      queueSize: this.queueSize,
      ...(this.partSizeBytes !== undefined ? { partSize: this.partSizeBytes } : {}),
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (err) {
      // lib-storage may report a failed abort instead of the cause: the body's error wins.
      if (bodyFailed) throw bodyError;
      throw this.classify('write', key, err);
    } finally {
      readable.destroy();
    }
    return { size, sha256: hash.digest('hex') };
  }

  get(key: string): AsyncIterable<Uint8Array> {
    const objectKey = this.objectKey(key);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const store = this;
    return {
      async *[Symbol.asyncIterator]() {
        let body: AsyncIterable<Uint8Array>;
        try {
          const out = await store.client.send(new GetObjectCommand({ Bucket: store.bucket, Key: objectKey }));
          if (out.Body === undefined) throw new Error('GetObject returned no body');
          body = out.Body as AsyncIterable<Uint8Array>;
        } catch (err) {
          const name = (err as SdkError)?.name;
          if (name === 'NoSuchKey' || (statusOf(err) === 404 && name !== 'NoSuchBucket')) {
            throw new ObjectNotFoundError(key, store.location);
          }
          throw store.classify('read', key, err);
        }
        try {
          for await (const chunk of body) yield chunk;
        } catch (err) {
          throw new TransientError(
            `cannot read ${key} in ${store.location}: the download broke off: ${describe(err)}`,
            {
              cause: err,
            },
          );
        } finally {
          (body as Partial<Readable>).destroy?.();
        }
      },
    };
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      return { key, size: out.ContentLength ?? 0 };
    } catch (err) {
      const name = (err as SdkError)?.name;
      if (name === 'NotFound' || name === 'NoSuchKey' || statusOf(err) === 404) {
        // HEAD has no body, so a missing bucket looks like a missing key: tell them apart.
        if (name !== 'NoSuchKey') await this.ensureBucket();
        return undefined;
      }
      throw this.classify('stat', key, err);
    }
  }

  private async ensureBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      if (statusOf(err) === 404) {
        throw this.missingBucket(err);
      }
      // Anything else: the object lookup's answer stands.
    }
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    const fullPrefix = this.prefix === '' ? prefix : `${this.prefix}/${prefix}`;
    let token: string | undefined;
    do {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: fullPrefix, ContinuationToken: token }),
        );
      } catch (err) {
        throw this.classify('list', prefix === '' ? '/' : prefix, err);
      }
      for (const obj of page.Contents ?? []) {
        if (obj.Key === undefined) continue;
        yield {
          key: this.storeKey(obj.Key),
          size: obj.Size ?? 0,
          ...(options.modified === true && obj.LastModified !== undefined
            ? { modifiedMs: obj.LastModified.getTime() }
            : {}),
        };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
      if (page.IsTruncated && token === undefined) {
        throw new PermanentError(
          `cannot list ${prefix} in ${this.location}: S3 said the listing is truncated but gave no continuation token`,
        );
      }
    } while (token !== undefined);
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
    } catch (err) {
      if (statusOf(err) === 404 && (err as SdkError)?.name !== 'NoSuchBucket') return;
      throw this.classify('delete', key, err);
    }
  }

  /** One listing of at most one key: needs s3:ListBucket only, writes nothing. */
  async checkReadable(): Promise<void> {
    const prefix = this.prefix === '' ? undefined : `${this.prefix}/`;
    try {
      await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, MaxKeys: 1 }));
    } catch (err) {
      throw this.unusable(err, `s3:ListBucket on the bucket and s3:GetObject on ${this.location}/*`);
    }
  }

  async getVersioned(key: string): Promise<VersionedObject | undefined> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      if (out.Body === undefined || out.ETag === undefined) throw new Error('GetObject returned no body or no ETag');
      return { bytes: await out.Body.transformToByteArray(), etag: out.ETag };
    } catch (err) {
      const name = (err as SdkError)?.name;
      if (name === 'NoSuchKey' || (statusOf(err) === 404 && name !== 'NoSuchBucket')) return undefined;
      throw this.classify('read', key, err);
    }
  }

  /**
   * S3's conditional PutObject: If-Match with the expected ETag, or If-None-Match: * for "only
   * if absent". S3 answers 412 when the object changed, and 409 when a concurrent conditional
   * write to the key won. A server that ignores these headers (s3rver 3.7.1 does) gives no
   * protection: use a server that enforces them.
   */
  async putIfMatch(key: string, bytes: Uint8Array, expectedEtag: string | undefined): Promise<{ etag: string }> {
    try {
      const out = await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.objectKey(key),
          Body: bytes,
          ...(expectedEtag === undefined ? { IfNoneMatch: '*' } : { IfMatch: expectedEtag }),
        }),
      );
      if (out.ETag === undefined) throw new Error('PutObject returned no ETag');
      return { etag: out.ETag };
    } catch (err) {
      const status = statusOf(err);
      if (status === 412 || status === 409) throw new PreconditionFailedError(key, this.location);
      throw this.classify('write', key, err);
    }
  }

  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      throw this.unusable(
        err,
        `s3:ListBucket on the bucket and s3:GetObject, s3:PutObject, s3:DeleteObject on ${this.location}/*`,
        'may not read or write it',
      );
    }
  }

  /** Why a store check failed; `grants` are what the credentials need. */
  private unusable(err: unknown, grants: string, denied = 'may not read it'): Error {
    const status = statusOf(err);
    const name = (err as SdkError)?.name;
    if (status === 404 || name === 'NoSuchBucket' || name === 'NotFound') {
      return this.missingBucket(err);
    }
    if (status === 403) {
      return new PermanentError(
        `access denied to bucket ${this.bucket}: the credentials in use ${denied}; grant ${grants}`,
        { cause: err },
      );
    }
    if (status === undefined && isNetworkError(err)) {
      return new TransientError(
        `cannot reach S3 endpoint ${this.describeEndpoint()} for ${this.location}: ${describe(err)}${this.timeoutHint(err)}; check --s3-endpoint and the network`,
        { cause: err },
      );
    }
    return this.classify('use', undefined, err);
  }
}
