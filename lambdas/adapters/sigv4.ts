/**
 * AWS Signature Version 4 for HTTP sources and remote-write targets, as Amazon Managed Service for
 * Prometheus (service `aps`) demands it. The SDK's signer does the signing; credentials come from
 * the SDK's default provider chain (environment, profile, web identity, container or instance role),
 * which caches them and fetches new ones before temporary credentials expire. Every secret part of
 * the credentials is registered with the redactor before a request carries it.
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider, Checksum, SourceData } from '@smithy/types';
import { InputError } from '../core/errors';
import { secrets as redactor } from '../core/redact';
import type { RequestSigner, SignableRequest } from './http-auth';

/** Amazon Managed Service for Prometheus signs as this service. */
export const AMP_SERVICE = 'aps';

export interface SigV4Options {
  readonly region: string;
  /** @default AMP_SERVICE ('aps') */
  readonly service?: string;
  /** @default the SDK's default chain, memoized: temporary credentials are refreshed before they expire */
  readonly credentials?: AwsCredentialIdentityProvider;
  /**
   * Also send the payload's hash as X-Amz-Content-Sha256. The hash is signed either way (it ends
   * the canonical request); Prometheus's own SigV4 client leaves the header out, so by default do we.
   * @default false
   */
  readonly contentSha256Header?: boolean;
  /** The signing time; tests fix it. @default now */
  readonly now?: () => Date;
}

/** SHA-256 (or its HMAC) from node:crypto, in the shape the signer takes. */
class NodeSha256 implements Checksum {
  private hash: Hash | Hmac;

  constructor(private readonly secret?: SourceData) {
    this.hash = this.fresh();
  }

  private fresh(): Hash | Hmac {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', toBytes(this.secret));
  }

  update(data: Uint8Array): void {
    this.hash.update(data);
  }

  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }

  reset(): void {
    this.hash = this.fresh();
  }
}

function toBytes(data: SourceData): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

/**
 * The provider with every credential it hands out registered for redaction, once per identity;
 * finding none is bad input, named with where the chain looks.
 */
function checked(provider: AwsCredentialIdentityProvider): AwsCredentialIdentityProvider {
  let registered: AwsCredentialIdentity | undefined;
  return async (options) => {
    let credentials: AwsCredentialIdentity;
    try {
      credentials = await provider(options);
    } catch (err) {
      throw new InputError(
        `SigV4 signing found no AWS credentials (${err instanceof Error ? err.message : String(err)}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or AWS_PROFILE, or run with a role`,
        { cause: err },
      );
    }
    if (credentials !== registered) {
      redactor.add(credentials.secretAccessKey);
      redactor.add(credentials.sessionToken);
      registered = credentials;
    }
    return credentials;
  };
}

/** The query string as the signer wants it: decoded, repeated keys as lists. */
function queryOf(url: URL): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const [key, value] of url.searchParams) {
    const seen = query[key];
    query[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return query;
}

/** A RequestSigner that signs with SigV4 for `options.service` in `options.region`. */
export function sigv4Signer(options: SigV4Options): RequestSigner {
  const signer = new SignatureV4({
    region: options.region,
    service: options.service ?? AMP_SERVICE,
    credentials: checked(options.credentials ?? defaultProvider()),
    sha256: NodeSha256,
    applyChecksum: options.contentSha256Header ?? false,
  });
  return async (request: SignableRequest) => {
    const url = new URL(request.url);
    const signed = await signer.sign(
      {
        method: request.method,
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port ? { port: Number(url.port) } : {}),
        // The path as sent on the wire; the signer encodes it once more, as AWS services expect.
        path: url.pathname,
        query: queryOf(url),
        headers: { ...request.headers, host: url.host },
        body: request.body,
      },
      { signingDate: options.now?.() ?? new Date() },
    );
    const { host: _host, ...headers } = signed.headers;
    return headers;
  };
}

/** The sigv4 settings of a source or a restore target. */
export interface SigV4Settings {
  readonly region: string;
  readonly service: string;
}

/** One signer per region and service, all sharing one cached default credential chain. */
export function signerPerSettings(): (settings: SigV4Settings) => RequestSigner {
  const signers = new Map<string, RequestSigner>();
  let chain: AwsCredentialIdentityProvider | undefined;
  return ({ region, service }) => {
    const key = `${region}/${service}`;
    let signer = signers.get(key);
    if (!signer)
      signers.set(key, (signer = sigv4Signer({ region, service, credentials: (chain ??= defaultProvider()) })));
    return signer;
  };
}
