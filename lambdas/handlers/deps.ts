/**
 * Everything a handler touches outside its input, injected: tests replace any of it (a
 * DirectoryStore, a fake reader, a fixed clock), Lambda uses the defaults. Defaults are lazy,
 * so importing a handler creates no client and reads no environment.
 */
import type { FederateScraper, ObjectStore, PrometheusReader, RemoteWriter } from '../core/ports';
import type { ArchiveThawer } from '../core/restore/thaw';
import { createS3Client, S3Store } from '../adapters/s3-store';
import { DirectoryStore } from '../adapters/dir-store';
import { RESPONSE_CAPS } from '../adapters/read-capped';
import { HttpRemoteReader } from '../adapters/prometheus-remote-read';
import { HttpQueryReader } from '../adapters/prometheus-query';
import { HttpFederateScraper } from '../adapters/prometheus-federate';
import { sleep } from '../core/time';
import type { SourceMode } from '../core/types';
import { HttpRemoteWriter } from '../adapters/remote-write-http';
import { S3ArchiveThawer } from '../adapters/s3-thaw';
import { signerPerSettings, type SigV4Settings } from '../adapters/sigv4';
import type { RequestSigner } from '../adapters/http-auth';
import {
  createSecretsClient,
  SecretsManagerCredentials,
  type HttpCredentials,
  type SecretsProvider,
} from '../adapters/secrets';
import { configFromEnv } from '../adapters/runtime-config';
import { createLogger, parseLogLevel, type Logger } from '../adapters/log';
import { createMetricsEmitter, type MetricsEmitter } from '../adapters/emf';
import type { RuntimeConfig } from './contracts';

export interface HandlerDeps {
  /** The runtime config, parsed once per container. */
  readonly config: () => RuntimeConfig;
  readonly store: (config: RuntimeConfig) => ObjectStore;
  /** One replica of a source; backup-shard combines the replicas (core/backup/replicas.ts). */
  /** `refresh` re-reads the credentials once when the server refuses them (a rotated secret). */
  readonly reader: (
    url: string,
    credentials: HttpCredentials | undefined,
    refresh?: Refresh,
    options?: ReaderOptions,
  ) => PrometheusReader;
  readonly writer: (url: string, credentials: HttpCredentials | undefined, refresh?: Refresh) => RemoteWriter;
  /** The /federate endpoint under a Prometheus base URL (federate-mode sources). */
  readonly scraper: (url: string, credentials: HttpCredentials | undefined) => FederateScraper;
  /** Waits between two federate captures; rejects when `signal` aborts. */
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly thawer: (config: RuntimeConfig) => ArchiveThawer;
  readonly secrets: SecretsProvider;
  /** A SigV4 signer per region and service, sharing one cached credential chain. */
  readonly signer: (settings: SigV4Settings) => RequestSigner;
  readonly nowMs: () => number;
  readonly log: Logger;
  readonly metrics: MetricsEmitter;
  /** Work is aborted this long before Lambda's own timeout, so Step Functions can retry. */
  readonly timeoutMarginMs: number;
}

type Refresh = () => Promise<HttpCredentials>;

/** How a source is read (runtime config): remote read unless `mode` is query. */
export interface ReaderOptions {
  readonly mode?: SourceMode;
  readonly maxSamplesPerQuery?: number;
}

export const DEFAULT_TIMEOUT_MARGIN_MS = 10_000;
/** Remote read of one shard: long, since a shard may be large; the Lambda timeout bounds it anyway. */
const READ_TIMEOUT_MS = 5 * 60_000;
/** One query-API request: each answer is bounded by the sample budget, so shorter than a remote read. */
const QUERY_TIMEOUT_MS = 2 * 60_000;
/**
 * A SAMPLES answer is held twice (compressed and not) beside its decoded series: a quarter of
 * the default cap keeps that within a shard function's memory. What a user changes when a read
 * in Lambda hits its timeout or this cap: the shards' length.
 */
const LAMBDA_READ_SETTINGS = {
  maxResponseBytes: RESPONSE_CAPS.samplesBytes / 4,
  timeoutSetting: 'a shorter shardLength in cdk.json (the Lambda read timeout is fixed)',
  maxResponseSetting: '',
} as const;

/**
 * A directory in place of the archive bucket, with nothing archived: set only by the local
 * runner when it runs the synthesized bundles (`promvault run … --bundled`), never by the stack.
 */
export const STORE_DIR_VARIABLE = 'PROMVAULT_STORE_DIR';
const READABLE: ArchiveThawer = { status: async () => 'readable', requestThaw: async () => 'readable' };

/** One /federate answer: a capture interval is at most a minute, and the timeout guard bounds it too. */
const FEDERATE_TIMEOUT_MS = 30_000;

/** The /federate scraper of a federate-mode source. */
export function sourceScraper(url: string, credentials: HttpCredentials | undefined): FederateScraper {
  return new HttpFederateScraper({ url, ...credentials, timeoutMs: FEDERATE_TIMEOUT_MS });
}

/** The reader of one replica of a configured source, by its mode. */
export function sourceReader(
  url: string,
  credentials: HttpCredentials | undefined,
  refresh?: Refresh,
  options?: ReaderOptions,
): PrometheusReader {
  const common = { url, ...credentials, refreshCredentials: refresh };
  return options?.mode === 'query'
    ? new HttpQueryReader({ ...common, timeoutMs: QUERY_TIMEOUT_MS, maxSamplesPerQuery: options.maxSamplesPerQuery })
    : new HttpRemoteReader({ ...common, timeoutMs: READ_TIMEOUT_MS, ...LAMBDA_READ_SETTINGS });
}

function lazy<T>(make: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= make());
}

export function defaultDeps(env: NodeJS.ProcessEnv = process.env): HandlerDeps {
  const s3 = lazy(() => createS3Client({ ...(env.AWS_ENDPOINT_URL_S3 ? { endpoint: env.AWS_ENDPOINT_URL_S3 } : {}) }));
  const secrets = lazy(() => new SecretsManagerCredentials({ client: createSecretsClient() }));
  const stores = new WeakMap<RuntimeConfig, ObjectStore>();
  const thawers = new WeakMap<RuntimeConfig, ArchiveThawer>();
  const storeDir = env[STORE_DIR_VARIABLE];
  if (storeDir) {
    const directory = lazy(() => new DirectoryStore(storeDir));
    return { ...defaultDeps({ ...env, [STORE_DIR_VARIABLE]: '' }), store: directory, thawer: () => READABLE };
  }
  return {
    config: configFromEnv(env),
    store: (config) => {
      let store = stores.get(config);
      if (!store)
        stores.set(config, (store = new S3Store({ bucket: config.bucket, prefix: config.prefix, client: s3() })));
      return store;
    },
    reader: sourceReader,
    writer: (url, credentials, refresh) =>
      new HttpRemoteWriter({
        url,
        ...credentials,
        refreshCredentials: refresh,
        timeoutSetting: 'nothing in Lambda (the remote-write timeout is fixed): check that the target keeps up',
      }),
    scraper: sourceScraper,
    sleep,
    thawer: (config) => {
      let thawer = thawers.get(config);
      if (!thawer)
        thawers.set(
          config,
          (thawer = new S3ArchiveThawer({ bucket: config.bucket, prefix: config.prefix, client: s3() })),
        );
      return thawer;
    },
    secrets: { credentials: (name) => secrets().credentials(name), refresh: (name) => secrets().refresh(name) },
    signer: signerPerSettings(),
    nowMs: Date.now,
    log: createLogger({ level: parseLogLevel(env.LOG_LEVEL) }),
    metrics: createMetricsEmitter(),
    timeoutMarginMs: DEFAULT_TIMEOUT_MARGIN_MS,
  };
}
