/** Turns --source and its auth flags into a reader, checked before any work starts. */
import { readFileSync } from 'node:fs';
import { InputError } from '../lambdas/core/errors';
import { HttpRemoteReader } from '../lambdas/adapters/prometheus-remote-read';
import { validateSourceName } from '../lambdas/core/shard';

export interface SourceFlags {
  source: string;
  sourceName?: string;
  basicAuth?: string;
  bearerTokenFile?: string;
  header?: string[];
  timeout?: string;
}

export function remoteReadUrl(source: string): URL {
  let url: URL;
  try {
    url = new URL(source);
  } catch {
    throw new InputError(
      `--source ${JSON.stringify(source)} is not a URL: give the Prometheus base URL, e.g. http://prometheus:9090`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InputError(`--source ${source} must be an http:// or https:// URL`);
  }
  if (!url.pathname.endsWith('/api/v1/read')) url.pathname = url.pathname.replace(/\/$/, '') + '/api/v1/read';
  return url;
}

/** The default source name is the source's host and port: stable across runs, safe in keys. */
export function sourceName(flags: SourceFlags): string {
  if (flags.sourceName) return validateSourceName(flags.sourceName);
  const url = remoteReadUrl(flags.source);
  return validateSourceName(`${url.hostname}${url.port ? '_' + url.port : ''}`.replace(/[^A-Za-z0-9._-]/g, '_'));
}

export function parseHeaders(list: readonly string[] | undefined, flag: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const h of list ?? []) {
    const i = h.indexOf(':');
    if (i <= 0)
      throw new InputError(`${flag} ${JSON.stringify(h)} must look like 'Name: value', e.g. 'X-Scope-OrgID: tenant1'`);
    headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
  }
  return headers;
}

export function parseBasicAuth(
  text: string | undefined,
  flag: string,
): { username: string; password: string } | undefined {
  if (text === undefined) return undefined;
  const i = text.indexOf(':');
  if (i <= 0) throw new InputError(`${flag} must be 'user:password'`);
  return { username: text.slice(0, i), password: text.slice(i + 1) };
}

export function readToken(file: string | undefined, flag: string): string | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new InputError(`${flag} ${file} cannot be read: ${(err as Error).message}`);
  }
}

export function openReader(flags: SourceFlags, timeoutMs: number): HttpRemoteReader {
  return new HttpRemoteReader({
    url: remoteReadUrl(flags.source).toString(),
    basicAuth: parseBasicAuth(flags.basicAuth, '--basic-auth'),
    bearerToken: readToken(flags.bearerTokenFile, '--bearer-token-file'),
    headers: parseHeaders(flags.header, '--header'),
    timeoutMs,
  });
}
