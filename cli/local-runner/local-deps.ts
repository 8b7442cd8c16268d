/**
 * The HandlerDeps of a local run: the handlers' own adapters (remote read, remote write), a
 * store opened with openStore (a directory, s3rver or any S3-compatible endpoint), secrets
 * from a file instead of Secrets Manager, logs on stderr.
 */
import { readFileSync } from 'node:fs';
import type { S3Client } from '@aws-sdk/client-s3';
import { InputError } from '../../lambdas/core/errors';
import type { ObjectStore } from '../../lambdas/core/ports';
import type { ArchiveThawer } from '../../lambdas/core/restore/thaw';
import { openStore, parseStoreUrl } from '../../lambdas/adapters/open-store';
import { createS3Client } from '../../lambdas/adapters/s3-store';
import { S3ArchiveThawer } from '../../lambdas/adapters/s3-thaw';
import { HttpRemoteWriter } from '../../lambdas/adapters/remote-write-http';
import { parseCredentials, type HttpCredentials, type SecretsProvider } from '../../lambdas/adapters/secrets';
import { createLogger, type Logger, type LogLevel } from '../../lambdas/adapters/log';
import { createMetricsEmitter, type MetricsEmitter } from '../../lambdas/adapters/emf';
import type { RuntimeConfig } from '../../lambdas/handlers/contracts';
import { DEFAULT_TIMEOUT_MARGIN_MS, sourceReader, sourceScraper, type HandlerDeps } from '../../lambdas/handlers/deps';
import { sleep } from '../../lambdas/core/time';
import { isRemoteReadUrl } from '../../lambdas/schemas/fields';
import { signerPerSettings } from '../../lambdas/adapters/sigv4';

/** Remote read of one shard, as in lambdas/handlers/deps.ts. */

export interface LocalStore {
  readonly store: ObjectStore;
  readonly thawer: ArchiveThawer;
  /** What the template's archive bucket stands for locally: the store's bucket, or a placeholder. */
  readonly bucket: string;
}

/** A directory has no archive tiers: every object is readable. */
const READABLE: ArchiveThawer = {
  status: async () => 'readable',
  requestThaw: async () => 'readable',
};

export const DIRECTORY_BUCKET = 'promvault-local';

export function openLocalStore(
  url: string,
  options: { s3Endpoint?: string; region?: string; s3Client?: S3Client } = {},
): LocalStore {
  const parsed = parseStoreUrl(url);
  if (parsed.kind === 'dir') return { store: openStore(url), thawer: READABLE, bucket: DIRECTORY_BUCKET };
  const client = options.s3Client ?? createS3Client({ endpoint: options.s3Endpoint, region: options.region });
  const store = openStore(url, { s3Client: client });
  return {
    store,
    thawer: new S3ArchiveThawer({ bucket: parsed.bucket, prefix: parsed.prefix, client }),
    bucket: parsed.bucket,
  };
}

/** A Prometheus base URL (or its /api/v1/read URL) as the remote-read URL, checked. */
export function sourceReadUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InputError(
      `--source-url ${JSON.stringify(text)} is not a URL: give the Prometheus base URL, e.g. http://127.0.0.1:9090`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new InputError(`--source-url ${text} must be an http:// or https:// URL`);
  if (!url.pathname.endsWith('/api/v1/read')) url.pathname = url.pathname.replace(/\/$/, '') + '/api/v1/read';
  return url.toString();
}

/**
 * The config a function would see, with a source's remote-read URL replaced (the demo's
 * Prometheus listens on a random port). Credentials are meant for the configured URL: an
 * overridden source gets none.
 */
export function localRuntimeConfig(
  config: RuntimeConfig,
  override?: { sourceName: string; sourceUrl: string },
): RuntimeConfig {
  if (override === undefined) return config;
  const url = sourceReadUrl(override.sourceUrl);
  return {
    ...config,
    sources: config.sources.map((s) => {
      if (s.name !== override.sourceName) return s;
      const { credentialsSecretName: _dropped, ...rest } = s;
      if (s.mode !== 'query') return { ...rest, remoteReadUrls: [url] };
      if (isRemoteReadUrl(override.sourceUrl))
        throw new InputError(
          `--source-url ${override.sourceUrl} is a remote-read URL, but source ${s.name} is read in query mode: give the base URL under which /api/v1/query answers`,
        );
      return { ...rest, queryUrls: [override.sourceUrl] };
    }),
  };
}

/** Credentials from a JSON file {"<secret name>": {"username","password"} | {"bearerToken"} | {"headers"}}. */
export function fileSecrets(file: string | undefined): SecretsProvider {
  let values: Record<string, unknown> = {};
  if (file !== undefined) {
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new InputError(`--secrets-file ${file} cannot be read as JSON: ${(err as Error).message.split('\n')[0]}`);
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
      throw new InputError(`--secrets-file ${file} must hold a JSON object of secret name → credentials`);
    values = doc as Record<string, unknown>;
  }
  const parsed = new Map<string, HttpCredentials>();
  for (const [name, v] of Object.entries(values)) parsed.set(name, parseCredentials(JSON.stringify(v), name));
  return {
    credentials: async (name) => {
      const c = parsed.get(name);
      if (c === undefined)
        throw new InputError(
          `secret ${name} is needed but ${file === undefined ? 'no --secrets-file was given' : `--secrets-file ${file} does not have it`}: ` +
            'locally, secrets come from a JSON file {"<name>": {"username","password"} | {"bearerToken"} | {"headers"}}',
        );
      return c;
    },
  };
}

export type LocalLogLevel = LogLevel | 'silent';

export function stderrLogger(level: LocalLogLevel): Logger {
  if (level === 'silent') return createLogger({ sink: () => {} });
  return createLogger({ level, sink: (line) => process.stderr.write(line + '\n') });
}

export interface LocalDepsOptions {
  readonly config: RuntimeConfig;
  readonly local: LocalStore;
  readonly secrets: SecretsProvider;
  readonly log: Logger;
  /** Default: EMF lines are dropped (there is no CloudWatch locally). */
  readonly metrics?: MetricsEmitter;
}

export function localDeps(options: LocalDepsOptions): HandlerDeps {
  return {
    config: () => options.config,
    store: () => options.local.store,
    // Credentials are never refreshed locally: a secrets file does not rotate.
    reader: (url, credentials, _refresh, readerOptions) => sourceReader(url, credentials, undefined, readerOptions),
    writer: (url, credentials) => new HttpRemoteWriter({ url, ...credentials }),
    scraper: sourceScraper,
    sleep,
    thawer: () => options.local.thawer,
    secrets: options.secrets,
    signer: signerPerSettings(),
    nowMs: Date.now,
    log: options.log,
    metrics: options.metrics ?? createMetricsEmitter(() => {}),
    timeoutMarginMs: DEFAULT_TIMEOUT_MARGIN_MS,
  };
}
