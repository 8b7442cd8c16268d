/** The store flags every command shares, as openStore's options. */
import type { OpenStoreOptions } from '../lambdas/adapters/open-store';
import { InputError } from '../lambdas/core/errors';
import { parseTimeout } from '../lambdas/core/time';

function checkEndpoint(text: string): void {
  let protocol: string | undefined;
  try {
    protocol = new URL(text).protocol;
  } catch {
    protocol = undefined;
  }
  if (protocol !== 'http:' && protocol !== 'https:') {
    throw new InputError(
      `--s3-endpoint ${JSON.stringify(text)} is not an http(s) URL: give the S3-compatible endpoint, e.g. http://127.0.0.1:4568 or https://s3.eu-central-1.amazonaws.com`,
    );
  }
}

export interface StoreFlags {
  readonly s3Endpoint?: string;
  readonly region?: string;
  /** --s3-timeout: longest silence on an open S3 connection (default S3_TIMEOUTS.requestMs). */
  readonly s3Timeout?: string;
}

export function storeOptions(flags: StoreFlags): OpenStoreOptions {
  if (flags.s3Endpoint !== undefined) checkEndpoint(flags.s3Endpoint);
  // The SDK puts the region in the endpoint's host name.
  if (flags.region !== undefined && !/^[A-Za-z0-9-]+$/.test(flags.region)) {
    throw new InputError(
      `--region ${JSON.stringify(flags.region)} is not an AWS region name: give the bucket's region, e.g. us-east-1 or eu-central-1`,
    );
  }
  return {
    ...(flags.s3Endpoint !== undefined ? { s3Endpoint: flags.s3Endpoint } : {}),
    ...(flags.region !== undefined ? { region: flags.region } : {}),
    ...(flags.s3Timeout !== undefined ? { s3TimeoutMs: parseTimeout(flags.s3Timeout, '--s3-timeout') } : {}),
  };
}
