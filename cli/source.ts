/**
 * Turns --source (one or more HA replicas) and its auth flags into a reader, checked before any
 * work starts. Every secret read here is registered for redaction before anything can print it.
 */
import { readFileSync } from 'node:fs';
import { InputError, SourceRejectedError } from '../lambdas/core/errors';
import { secrets } from '../lambdas/core/redact';
import { registerCredentials, type HttpCredentials } from '../lambdas/adapters/http-auth';
import { HttpRemoteReader } from '../lambdas/adapters/prometheus-remote-read';
import { validateSourceName } from '../lambdas/core/shard';
import type { PrometheusReader } from '../lambdas/core/ports';
import { defaultReplicaMode, replicaReader } from '../lambdas/core/backup/replicas';
import { REPLICA_MODES, type ReplicaMode } from '../lambdas/core/types';
import { validateReplicaLabels } from '../lambdas/core/backup/replica-labels';

export interface SourceFlags {
  /** One URL per HA replica, in order of preference. */
  source: string[];
  replicas?: string;
  replicaLabel?: string[];
  sourceName?: string;
  basicAuth?: string;
  basicAuthFile?: string;
  bearerTokenFile?: string;
  header?: string[];
  timeout?: string;
}

export function remoteReadUrl(source: string): URL {
  let url: URL;
  try {
    url = new URL(source);
    registerUrlSecret(url);
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
  const url = remoteReadUrl(flags.source[0]!);
  return validateSourceName(`${url.hostname}${url.port ? '_' + url.port : ''}`.replace(/[^A-Za-z0-9._-]/g, '_'));
}

/** User info in a URL still authenticates (as an Authorization header) but is never printed. */
export function registerUrlSecret(url: URL): void {
  if (url.username || url.password)
    secrets.addBasicAuth(decodeURIComponent(url.username), decodeURIComponent(url.password));
}

// Header values may carry tokens (Authorization, X-Scope-OrgID): all of them are treated as secrets.
export function parseHeaders(list: readonly string[] | undefined, flag: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const h of list ?? []) {
    const i = h.indexOf(':');
    if (i <= 0)
      throw new InputError(`${flag} ${JSON.stringify(h)} must look like 'Name: value', e.g. 'X-Scope-OrgID: tenant1'`);
    headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
    secrets.add(h.slice(i + 1).trim());
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
  const auth = { username: text.slice(0, i), password: text.slice(i + 1) };
  secrets.addBasicAuth(auth.username, auth.password);
  return auth;
}

export function readToken(file: string | undefined, flag: string): string | undefined {
  if (file === undefined) return undefined;
  let token: string;
  try {
    token = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new InputError(`${flag} ${file} cannot be read: ${(err as Error).message}`);
  }
  if (token === '') throw new InputError(`${flag} ${file} is empty: put the token (or user:password) in it`);
  secrets.add(token);
  return token;
}

/** The auth flags of one endpoint, e.g. --basic-auth or --target-basic-auth. */
export interface AuthFlags {
  readonly basicAuth?: string;
  readonly basicAuthFile?: string;
  readonly bearerTokenFile?: string;
}

/**
 * Credentials of the source (`prefix` '') or the target ('target-'), from files or the
 * environment (PROMVAULT_BASIC_AUTH / PROMVAULT_BEARER_TOKEN, PROMVAULT_TARGET_… for the target),
 * so they stay out of the process list. A flag wins over the environment.
 */
export function resolveAuth(
  flags: AuthFlags,
  prefix: '' | 'target-',
  env: NodeJS.ProcessEnv = process.env,
  warn: (line: string) => void = (line) => process.stderr.write(line + '\n'),
): Pick<HttpCredentials, 'basicAuth' | 'bearerToken'> {
  const flag = (name: string) => `--${prefix}${name}`;
  const envName = (name: string) => `PROMVAULT_${prefix.toUpperCase().replace('-', '_')}${name}`;
  if (flags.basicAuth !== undefined && !warned.has(prefix)) {
    warned.add(prefix);
    warn(
      `promvault: warning: ${flag('basic-auth')} is visible to every user of this machine in the process list; use ${flag('basic-auth-file')} or ${envName('BASIC_AUTH')}`,
    );
  }
  const basicText =
    flags.basicAuth ??
    (flags.basicAuthFile !== undefined ? readToken(flags.basicAuthFile, flag('basic-auth-file')) : undefined) ??
    (flags.bearerTokenFile === undefined ? nonEmpty(env[envName('BASIC_AUTH')]) : undefined);
  const basicFlag =
    flags.basicAuth !== undefined
      ? flag('basic-auth')
      : flags.basicAuthFile !== undefined
        ? `${flag('basic-auth-file')} ${flags.basicAuthFile}`
        : envName('BASIC_AUTH');
  const basicAuth = parseBasicAuth(basicText, basicFlag);
  const bearerToken =
    readToken(flags.bearerTokenFile, flag('bearer-token-file')) ??
    (basicAuth === undefined ? nonEmpty(env[envName('BEARER_TOKEN')]) : undefined);
  if (basicAuth && bearerToken) {
    throw new InputError(
      `both basic auth and a bearer token are given for the ${prefix ? 'target' : 'source'}: keep one of ${flag('basic-auth-file')} and ${flag('bearer-token-file')}`,
    );
  }
  return registerCredentials({ basicAuth, bearerToken });
}

/** Each endpoint's process-list warning is printed once, however many replicas share its flags. */
const warned = new Set<string>();

function nonEmpty(text: string | undefined): string | undefined {
  return text === undefined || text === '' ? undefined : text;
}

export interface SourceReader {
  readonly reader: PrometheusReader;
  readonly mode: ReplicaMode;
  /**
   * Checks every replica: one that refuses (auth, wrong URL) is bad input; one that is down is
   * reported through `warn` while another can serve, so a backup is not blocked by one replica.
   */
  probe(warn: (message: string) => void): Promise<void>;
}

/** --replicas and --replica-label, checked against the number of --source URLs given. */
export function parseReplicaFlags(
  flags: Pick<SourceFlags, 'replicas' | 'replicaLabel'>,
  replicas: number,
  sourceFlag: string,
): { mode: ReplicaMode; replicaLabels: string[] } {
  if (flags.replicas !== undefined) {
    if (!(REPLICA_MODES as readonly string[]).includes(flags.replicas)) {
      throw new InputError(`--replicas ${JSON.stringify(flags.replicas)} must be one of: ${REPLICA_MODES.join(', ')}`);
    }
    if (replicas < 2) {
      throw new InputError(
        `--replicas ${flags.replicas} needs two or more ${sourceFlag} URLs (the HA replicas of one source); ${replicas} given`,
      );
    }
  }
  return {
    mode: (flags.replicas as ReplicaMode | undefined) ?? defaultReplicaMode(replicas),
    replicaLabels: validateReplicaLabels(flags.replicaLabel ?? [], '--replica-label'),
  };
}

/** The reader for one source given as one or more replica URLs (--source or --against). */
export function openSource(
  urls: readonly string[],
  flags: Omit<SourceFlags, 'source'>,
  timeoutMs: number,
  sourceFlag = '--source',
): SourceReader {
  const { mode, replicaLabels } = parseReplicaFlags(flags, urls.length, sourceFlag);
  const seen = new Set<string>();
  const replicas = urls.map((u) => {
    const reader = openReader({ ...flags, source: [u] }, timeoutMs);
    if (seen.has(reader.endpoint)) throw new InputError(`${sourceFlag} ${u} is given twice: list each replica once`);
    seen.add(reader.endpoint);
    return reader;
  });
  return {
    reader: replicaReader(replicas, { mode, replicaLabels }),
    mode,
    probe: async (warn) => {
      const results = await Promise.allSettled(replicas.map((r) => r.probe()));
      const refused = results.find((r) => r.status === 'rejected' && r.reason instanceof SourceRejectedError);
      if (refused) throw (refused as PromiseRejectedResult).reason;
      const down = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
      if (down.length === replicas.length) throw down[0];
      for (const err of down) warn(`${err.message} Continuing with the other replicas.`);
    },
  };
}

export function openReader(flags: SourceFlags, timeoutMs: number): HttpRemoteReader {
  return new HttpRemoteReader({
    url: remoteReadUrl(flags.source[0]!).toString(),
    ...resolveAuth(flags, ''),
    headers: parseHeaders(flags.header, '--header'),
    timeoutMs,
  });
}
