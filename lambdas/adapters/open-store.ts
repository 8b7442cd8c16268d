/**
 * The one place a --store value becomes an ObjectStore.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { InputError } from '../core/errors';
import type { ObjectStore } from '../core/ports';
import { DirectoryStore } from './dir-store';
import { S3Store } from './s3-store';

export type StoreUrl =
  | { readonly kind: 'dir'; readonly path: string }
  | { readonly kind: 's3'; readonly bucket: string; readonly prefix: string };

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * Parses a --store value: `s3://bucket[/prefix]`, or a directory path (`/var/backups`,
 * `./backups`, `file:///var/backups`).
 */
export function parseStoreUrl(text: string): StoreUrl {
  const trimmed = text.trim();
  if (trimmed === '') throw new InputError('--store is empty: use a directory path or s3://bucket/prefix');
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(trimmed);
  if (scheme === null) return { kind: 'dir', path: trimmed };
  const name = scheme[1]!.toLowerCase();
  const rest = trimmed.slice(scheme[0].length);
  if (name === 'file') {
    if (!rest.startsWith('/'))
      throw new InputError(
        `invalid --store ${JSON.stringify(text)}: a file:// URL needs an absolute path, e.g. file:///var/backups`,
      );
    return { kind: 'dir', path: decodeURIComponent(rest) };
  }
  if (name !== 's3') {
    throw new InputError(`unknown store scheme '${scheme[1]}://': use a directory path or s3://bucket/prefix`);
  }
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const prefix = (slash < 0 ? '' : rest.slice(slash + 1))
    .split('/')
    .filter((s) => s !== '')
    .join('/');
  if (!BUCKET_NAME.test(bucket) || bucket.includes('..')) {
    throw new InputError(
      `invalid --store ${JSON.stringify(text)}: ${JSON.stringify(bucket)} is not an S3 bucket name ` +
        `(3-63 lowercase letters, digits, '.' and '-'); use s3://bucket/prefix`,
    );
  }
  return { kind: 's3', bucket, prefix };
}

export interface OpenStoreOptions {
  /** URL of an S3-compatible server; ignored for directory stores. */
  readonly s3Endpoint?: string;
  readonly region?: string;
  /** Longest silence on an open S3 connection (--s3-timeout). */
  readonly s3TimeoutMs?: number;
  /** A ready S3 client (tests); overrides s3Endpoint and region. */
  readonly s3Client?: S3Client;
}

/** Opens `s3://bucket/prefix` as an S3Store and anything else (a path, file:///path) as a DirectoryStore. */
export function openStore(url: string, options: OpenStoreOptions = {}): ObjectStore {
  const parsed = parseStoreUrl(url);
  if (parsed.kind === 'dir') return new DirectoryStore(parsed.path);
  return new S3Store({
    bucket: parsed.bucket,
    prefix: parsed.prefix,
    ...(options.s3Client !== undefined ? { client: options.s3Client } : {}),
    ...(options.s3Endpoint !== undefined ? { endpoint: options.s3Endpoint } : {}),
    ...(options.region !== undefined ? { region: options.region } : {}),
    ...(options.s3TimeoutMs !== undefined ? { requestTimeoutMs: options.s3TimeoutMs } : {}),
  });
}
