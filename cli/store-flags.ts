/** The store flags every command shares, as openStore's options. */
import type { OpenStoreOptions } from '../lambdas/adapters/open-store';
import { InputError } from '../lambdas/core/errors';
import { parseDuration } from '../lambdas/core/time';

export interface StoreFlags {
  readonly s3Endpoint?: string;
  readonly region?: string;
  /** --s3-timeout: longest silence on an open S3 connection (default S3_TIMEOUTS.requestMs). */
  readonly s3Timeout?: string;
}

export function storeOptions(flags: StoreFlags): OpenStoreOptions {
  if (flags.s3Timeout !== undefined && parseDuration(flags.s3Timeout, '--s3-timeout') === 0)
    throw new InputError('--s3-timeout 0 would fail every S3 request: give a duration such as 30s or 2m');
  return {
    ...(flags.s3Endpoint !== undefined ? { s3Endpoint: flags.s3Endpoint } : {}),
    ...(flags.region !== undefined ? { region: flags.region } : {}),
    ...(flags.s3Timeout !== undefined ? { s3TimeoutMs: parseDuration(flags.s3Timeout, '--s3-timeout') } : {}),
  };
}
