/** Turns --source (one or more HA replicas) and its auth flags into a reader, checked before any work starts. */
import { readFileSync } from 'node:fs';
import { InputError, SourceRejectedError } from '../lambdas/core/errors';
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
  const url = remoteReadUrl(flags.source[0]!);
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
    basicAuth: parseBasicAuth(flags.basicAuth, '--basic-auth'),
    bearerToken: readToken(flags.bearerTokenFile, '--bearer-token-file'),
    headers: parseHeaders(flags.header, '--header'),
    timeoutMs,
  });
}
