/**
 * Turns --source (one or more HA replicas) and its auth flags into a reader, checked before any
 * work starts. Every secret read here is registered for redaction before anything can print it.
 */
import { readFileSync } from 'node:fs';
import { InputError, SourceProbeError } from '../lambdas/core/errors';
import { secrets } from '../lambdas/core/redact';
import { registerCredentials, type HttpCredentials, type RequestSigner } from '../lambdas/adapters/http-auth';
import { HttpRemoteReader, SOURCE_INPUT, type SourceInput } from '../lambdas/adapters/prometheus-remote-read';
import { HttpQueryReader } from '../lambdas/adapters/prometheus-query';
import { RESPONSE_CAPS } from '../lambdas/adapters/read-capped';
import { validateSourceName } from '../lambdas/core/shard';
import type { PrometheusReader } from '../lambdas/core/ports';
import { defaultReplicaMode, replicaReader } from '../lambdas/core/backup/replicas';
import { REPLICA_MODES, SOURCE_MODES, type ReplicaMode, type SourceMode } from '../lambdas/core/types';
import { validateReplicaLabels } from '../lambdas/core/backup/replica-labels';
import { sigv4Signer } from '../lambdas/adapters/sigv4';
import { AWS_REGION_RE, SIGV4_SERVICE_RE, sigv4Problem } from '../lambdas/schemas/fields';

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
  /** How the source is read: remote-read (default) or query (the HTTP query API). */
  sourceMode?: string;
  /** Query mode: most samples one query answer is planned to hold. */
  maxSamplesPerQuery?: string;
  /** --max-response-bytes: the most a SAMPLES remote-read answer may hold. */
  maxResponseBytes?: string;
  sigv4Region?: string;
  sigv4Service?: string;
}

/** --source-mode, checked; remote-read when not given. */
export function parseSourceMode(text: string | undefined): SourceMode {
  if (text === undefined) return 'remote-read';
  const mode = SOURCE_MODES.find((m) => m === text.toLowerCase());
  if (mode === undefined)
    throw new InputError(
      `--source-mode ${JSON.stringify(text)} must be one of: ${SOURCE_MODES.join(', ')} (query: the HTTP query API, for Thanos, Mimir, VictoriaMetrics, Amazon Managed Prometheus)`,
    );
  return mode;
}

/** A whole number of samples, at least 1000. */
function parseMaxSamples(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1000 || n > 1e9)
    throw new InputError(`--max-samples-per-query ${text} must be a whole number from 1000 to 1000000000`);
  return n;
}

/** --max-response-bytes: a whole number of bytes, at least 1. */
export function parseMaxResponseBytes(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new InputError(
      `--max-response-bytes ${text} must be a whole number of bytes, e.g. ${RESPONSE_CAPS.samplesBytes} (the default, 1 GiB)`,
    );
  return n;
}

export function remoteReadUrl(source: string, flag = '--source'): URL {
  let url: URL;
  try {
    url = new URL(source);
    registerUrlSecret(url);
  } catch {
    throw new InputError(
      `${flag} ${JSON.stringify(source)} is not a URL: give the Prometheus base URL, e.g. http://prometheus:9090`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InputError(`${flag} ${source} must be an http:// or https:// URL, e.g. http://prometheus:9090`);
  }
  if (!url.pathname.endsWith('/api/v1/read')) url.pathname = url.pathname.replace(/\/$/, '') + '/api/v1/read';
  return url;
}

/** The default source name is the source's host and port: stable across runs, safe in keys. */
export function sourceName(flags: SourceFlags): string {
  if (flags.sourceName !== undefined) return validateSourceName(flags.sourceName);
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

/** The SigV4 flags of one endpoint: --sigv4-region and --sigv4-service. */
export interface SigV4Flags {
  readonly sigv4Region?: string;
  readonly sigv4Service?: string;
}

/**
 * A SigV4 signer for `url` when --sigv4-region is given (credentials from the AWS default chain:
 * AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, a role); refuses it together with basic
 * auth or a bearer token, and an Amazon Managed Prometheus URL without it.
 */
export function resolveSigner(
  flags: SigV4Flags,
  url: string,
  auth: Pick<HttpCredentials, 'basicAuth' | 'bearerToken'>,
  endpoint: 'source' | 'target',
): RequestSigner | undefined {
  const { sigv4Region: region, sigv4Service: service } = flags;
  if (service !== undefined && region === undefined)
    throw new InputError('--sigv4-service needs --sigv4-region: give the region of the workspace, e.g. us-east-1');
  if (region !== undefined && !AWS_REGION_RE.test(region))
    throw new InputError(`--sigv4-region ${JSON.stringify(region)} is not an AWS region: use a name such as us-east-1`);
  if (service !== undefined && !SIGV4_SERVICE_RE.test(service))
    throw new InputError(
      `--sigv4-service ${JSON.stringify(service)} is not a SigV4 service name: leave it out for aps (Amazon Managed Prometheus)`,
    );
  const problem = sigv4Problem(url, region, '--sigv4-region');
  if (problem !== undefined) throw new InputError(problem);
  if (region === undefined) return undefined;
  if (auth.basicAuth || auth.bearerToken) {
    const prefix = endpoint === 'target' ? 'target-' : '';
    throw new InputError(
      `--sigv4-region signs every request to the ${endpoint}, and ${auth.basicAuth ? 'basic auth' : 'a bearer token'} is given for it too (--${prefix}basic-auth…, --${prefix}bearer-token-file or $PROMVAULT_${prefix.toUpperCase().replace('-', '_')}${auth.basicAuth ? 'BASIC_AUTH' : 'BEARER_TOKEN'}): a signed request's Authorization header is its signature; keep one`,
    );
  }
  return sigv4Signer({ region, ...(service !== undefined ? { service } : {}) });
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
  input: SourceInput = SOURCE_INPUT,
): SourceReader {
  const sourceFlag = input.flag;
  const { mode, replicaLabels } = parseReplicaFlags(flags, urls.length, sourceFlag);
  const seen = new Set<string>();
  const replicas = urls.map((u) => {
    const reader = openReader({ ...flags, source: [u] }, timeoutMs, input);
    if (seen.has(reader.endpoint)) throw new InputError(`${sourceFlag} ${u} is given twice: list each replica once`);
    seen.add(reader.endpoint);
    return reader;
  });
  return {
    reader: replicaReader(replicas, { mode, replicaLabels }),
    mode,
    probe: async (warn) => {
      const results = await Promise.allSettled(replicas.map((r) => r.probe()));
      const refused = results.find((r) => r.status === 'rejected' && r.reason instanceof SourceProbeError);
      if (refused) throw (refused as PromiseRejectedResult).reason;
      const down = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
      if (down.length === replicas.length) throw down[0];
      for (const err of down) warn(`${err.message} Continuing with the other replicas.`);
    },
  };
}

/** A reader of one replica that can check its endpoint before any work. */
export type ProbedReader = PrometheusReader & { probe(): Promise<void> };

export function openReader(flags: SourceFlags, timeoutMs: number, input = SOURCE_INPUT): ProbedReader {
  const mode = parseSourceMode(flags.sourceMode);
  const maxSamplesPerQuery = parseMaxSamples(flags.maxSamplesPerQuery);
  if (maxSamplesPerQuery !== undefined && mode !== 'query')
    throw new InputError(
      '--max-samples-per-query is for --source-mode query only: remove it or add --source-mode query',
    );
  const auth = resolveAuth(flags, '');
  if (mode === 'query') {
    const url = queryBaseUrl(flags.source[0]!).toString();
    return new HttpQueryReader({
      url,
      ...auth,
      signer: resolveSigner(flags, url, auth, 'source'),
      headers: parseHeaders(flags.header, '--header'),
      timeoutMs,
      maxSamplesPerQuery,
    });
  }
  const url = remoteReadUrl(flags.source[0]!, input.flag).toString();
  return new HttpRemoteReader({
    input,
    url,
    ...auth,
    signer: resolveSigner(flags, url, auth, 'source'),
    headers: parseHeaders(flags.header, '--header'),
    timeoutMs,
    maxResponseBytes: parseMaxResponseBytes(flags.maxResponseBytes),
  });
}

/** The query API's base URL from --source; a remote-read URL here is a mix-up, said plainly. */
export function queryBaseUrl(source: string): URL {
  const url = remoteReadUrl(source);
  if (/\/api\/v1\/read\/?$/.test(new URL(source).pathname))
    throw new InputError(
      `--source ${url.origin}${url.pathname} is a remote-read URL, but --source-mode query reads the HTTP query API: give the base URL under which /api/v1/query answers (e.g. ${url.origin}${url.pathname.slice(0, -'/api/v1/read'.length) || '/'})`,
    );
  url.pathname = url.pathname.slice(0, -'/api/v1/read'.length) || '/';
  return url;
}
