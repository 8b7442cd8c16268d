/**
 * Credentials as HTTP sends them. Kept apart from the Secrets Manager adapter so the CLI's
 * readers and writers load no AWS SDK for them.
 */
import { secrets as redactor } from '../core/redact';

/** What a source or a target needs to authenticate; at most one of basicAuth and bearerToken. */
export interface HttpCredentials {
  readonly basicAuth?: { readonly username: string; readonly password: string };
  readonly bearerToken?: string;
  readonly headers?: Readonly<Record<string, string>>;
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
