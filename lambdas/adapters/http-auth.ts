/**
 * Credentials as HTTP sends them. Kept apart from the Secrets Manager adapter so the CLI's
 * readers and writers load no AWS SDK for them.
 */
import { InputError } from '../core/errors';
import { secrets as redactor } from '../core/redact';

/** One HTTP request as it will be sent, for a signer to sign. */
export interface SignableRequest {
  readonly method: string;
  /** The full URL, with the query string exactly as sent. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  /** The body exactly as sent (e.g. the snappy-compressed protobuf); none for a GET. */
  readonly body?: Uint8Array | string;
}

/**
 * Signs a request per attempt (a signature carries its time): resolves to the headers to send,
 * `request.headers` plus the signing ones (for SigV4: Authorization, X-Amz-Date and, with
 * temporary credentials, X-Amz-Security-Token). Host is signed but not returned: the HTTP client
 * derives it from the URL, to the same value. Send the body and URL unchanged after signing.
 */
export type RequestSigner = (request: SignableRequest) => Promise<Record<string, string>>;

/**
 * What a source or a target needs to authenticate; at most one of basicAuth and bearerToken, and
 * neither with `signer` (a signed request's Authorization header is its signature).
 */
export interface HttpCredentials {
  readonly basicAuth?: { readonly username: string; readonly password: string };
  readonly bearerToken?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Signs every request (SigV4 for Amazon Managed Prometheus, lambdas/adapters/sigv4.ts). */
  readonly signer?: RequestSigner;
}

/** What to check when a server refuses a signed request; the caller names the IAM action. */
export const SIGNED_REFUSAL_FIX =
  "check the AWS credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the role), that the SigV4 region (--sigv4-region) is the workspace's, and that the identity is allowed";

/** Refuses a signer together with basic auth or a bearer token: both would be the Authorization header. */
export function checkOneAuthorization(credentials: HttpCredentials, what: string): void {
  if (credentials.signer && (credentials.basicAuth || credentials.bearerToken))
    throw new InputError(
      `${what} is given both SigV4 signing and ${credentials.basicAuth ? 'basic auth' : 'a bearer token'}: a signed request's Authorization header is its signature; keep one`,
    );
}

/** Registers every secret value of `credentials` with the process's redactor; returns them. */
export function registerCredentials(credentials: HttpCredentials): HttpCredentials {
  if (credentials.basicAuth) redactor.addBasicAuth(credentials.basicAuth.username, credentials.basicAuth.password);
  redactor.add(credentials.bearerToken);
  for (const v of Object.values(credentials.headers ?? {})) redactor.add(v);
  return credentials;
}

/** The request headers that carry `credentials`: its extra headers and an Authorization header. */
export function authHeaders(credentials: HttpCredentials): Record<string, string> {
  const headers: Record<string, string> = { ...credentials.headers };
  const { basicAuth, bearerToken } = credentials;
  if (basicAuth) {
    headers.Authorization =
      'Basic ' + Buffer.from(`${basicAuth.username}:${basicAuth.password}`, 'utf8').toString('base64');
  } else if (bearerToken) {
    headers.Authorization = `Bearer ${bearerToken}`;
  }
  return headers;
}

/**
 * The URL without its user info, and the basic auth to use: `basicAuth` when given, else the
 * user info that was in the URL (which then authenticates, but never appears in messages).
 */
export function withoutUserInfo(
  text: string,
  basicAuth: HttpCredentials['basicAuth'],
): { url: URL; basicAuth: HttpCredentials['basicAuth'] } {
  const url = new URL(text);
  if (url.username || url.password) {
    basicAuth ??= { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
    url.username = '';
    url.password = '';
  }
  return { url, basicAuth };
}
