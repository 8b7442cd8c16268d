/**
 * The one place a --store value becomes an ObjectStore.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { ObjectStore } from '../core/ports';
import { DirectoryStore } from './dir-store';
import { parseStoreUrl, S3Store } from './s3-store';

export { parseStoreUrl, type StoreUrl } from './s3-store';

export interface OpenStoreOptions {
  /** URL of an S3-compatible server; ignored for directory stores. */
  readonly s3Endpoint?: string;
  readonly region?: string;
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
  });
}
