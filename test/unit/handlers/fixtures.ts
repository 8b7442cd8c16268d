/** Shared pieces of the handler tests: a temp DirectoryStore, fake reader/writer, captured logs. */
import type { SigV4Settings } from '../../../lambdas/adapters/sigv4';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DirectoryStore } from '../../../lambdas/adapters/dir-store';
import { createLogger } from '../../../lambdas/adapters/log';
import { createMetricsEmitter } from '../../../lambdas/adapters/emf';
import type { HttpCredentials, SecretsProvider } from '../../../lambdas/adapters/secrets';
import type { RuntimeConfig } from '../../../lambdas/handlers/contracts';
import type { HandlerDeps } from '../../../lambdas/handlers/deps';
import type { LambdaContext } from '../../../lambdas/handlers/middleware';
import type { PrometheusReader, ReadOptions, RemoteWriter, WriteBatch } from '../../../lambdas/core/ports';
import type { ArchiveThawer } from '../../../lambdas/core/restore/thaw';
import type { LabelMatcher, SeriesPiece, TimeWindow } from '../../../lambdas/core/types';

export const HOUR = 3_600_000;
export const MINUTE = 60_000;
/** 2026-01-01T00:00:00Z: aligned to every shard length. */
export const T0 = Date.UTC(2026, 0, 1);

export const SOURCE_URLS = ['http://prom-a:9090/api/v1/read', 'http://prom-b:9090/api/v1/read'];
export const TARGET = 'http://target:9090/api/v1/write';

export function testConfig(overrides: Partial<RuntimeConfig> = {}): RuntimeConfig {
  return {
    bucket: 'backups',
    prefix: '',
    sources: [
      {
        name: 'prod',
        mode: 'remote-read',
        remoteReadUrls: SOURCE_URLS,
        replicaMode: 'failover',
        replicaLabels: [],
        selectors: [],
        credentialsSecretName: 'prom-creds',
        shardLengthMs: HOUR,
        lagMs: 5 * MINUTE,
        initialLookbackMs: 6 * HOUR,
      },
    ],
    federateSources: [],
    restore: {
      targetUrl: TARGET,
      targetSecretName: 'target-creds',
      concurrency: 2,
      batchSamples: 100,
      thawTier: 'Bulk',
      thawDays: 7,
    },
    inlinePlanLimit: 3,
    gcGraceMs: HOUR,
    ...overrides,
  };
}

/** Two series, one sample a minute across the window; `fail` makes the read reject first. */
export class FakeReader implements PrometheusReader {
  calls = 0;
  lastSignal: AbortSignal | undefined;
  constructor(
    readonly endpoint: string,
    private readonly fail?: () => Error,
    private readonly hang = false,
  ) {}

  async *read(
    window: TimeWindow,
    _matchers: readonly LabelMatcher[],
    options?: ReadOptions,
  ): AsyncGenerator<SeriesPiece> {
    this.calls++;
    this.lastSignal = options?.signal;
    if (this.fail) throw this.fail();
    if (this.hang) {
      await new Promise((_, reject) =>
        options?.signal?.addEventListener('abort', () => reject(options.signal!.reason)),
      );
    }
    for (const job of ['api', 'db']) {
      const n = Math.floor((window.endMs - window.startMs) / MINUTE);
      yield {
        labels: [
          { name: '__name__', value: 'up' },
          { name: 'job', value: job },
        ],
        timestamps: Float64Array.from({ length: n }, (_, i) => window.startMs + i * MINUTE),
        values: Float64Array.from({ length: n }, (_, i) => i),
      };
    }
  }
}

export class FakeWriter implements RemoteWriter {
  readonly batches: WriteBatch[] = [];
  constructor(readonly endpoint: string) {}
  async write(batch: WriteBatch): Promise<void> {
    this.batches.push(batch);
  }
  get samples(): number {
    return this.batches.reduce((a, b) => a + b.samples, 0);
  }
}

export class FakeSecrets implements SecretsProvider {
  readonly asked: string[] = [];
  constructor(private readonly values: Record<string, HttpCredentials>) {}
  async credentials(name: string): Promise<HttpCredentials> {
    this.asked.push(name);
    const v = this.values[name];
    if (!v) throw new Error(`no secret ${name}`);
    return v;
  }
}

export interface TestWorld {
  readonly dir: string;
  readonly store: DirectoryStore;
  readonly deps: HandlerDeps;
  readonly logs: string[];
  readonly metrics: string[];
  readonly readers: Map<string, FakeReader>;
  readonly writers: { url: string; credentials: HttpCredentials | undefined; writer: FakeWriter }[];
  readerCredentials: (HttpCredentials | undefined)[];
  /** The sigv4 settings each signer was made for. */
  signerSettings: SigV4Settings[];
  now: number;
  cleanup(): Promise<void>;
}

export async function makeWorld(
  options: { config?: RuntimeConfig; deps?: Partial<HandlerDeps>; readers?: FakeReader[] } = {},
): Promise<TestWorld> {
  const dir = await mkdtemp(path.join(tmpdir(), 'promvault-handlers-'));
  const store = new DirectoryStore(dir);
  const logs: string[] = [];
  const metrics: string[] = [];
  const readers = new Map((options.readers ?? SOURCE_URLS.map((u) => new FakeReader(u))).map((r) => [r.endpoint, r]));
  const config = options.config ?? testConfig();
  const world: TestWorld = {
    dir,
    store,
    logs,
    metrics,
    readers,
    writers: [],
    readerCredentials: [],
    signerSettings: [],
    now: T0 + 7 * HOUR,
    deps: undefined as unknown as HandlerDeps,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
  const deps: HandlerDeps = {
    config: () => config,
    store: () => store,
    reader: (url, credentials) => {
      world.readerCredentials.push(credentials);
      const r = readers.get(url);
      if (!r) throw new Error(`no fake reader for ${url}`);
      return r;
    },
    writer: (url, credentials) => {
      const writer = new FakeWriter(url);
      world.writers.push({ url, credentials, writer });
      return writer;
    },
    thawer: (): ArchiveThawer => {
      throw new Error('no thawer in this test');
    },
    scraper: () => {
      throw new Error('no scraper in this test');
    },
    // The clock only moves when a handler waits.
    sleep: async (ms) => {
      world.now += Math.max(0, ms);
    },
    secrets: new FakeSecrets({
      'prom-creds': { bearerToken: 'source-token-123' },
      'target-creds': { basicAuth: { username: 'u', password: 'target-pw-456' } },
    }),
    signer: (settings) => {
      world.signerSettings.push(settings);
      return async (r) => ({ ...r.headers, authorization: `AWS4-HMAC-SHA256 test ${settings.region}` });
    },
    nowMs: () => world.now,
    log: createLogger({ sink: (l) => logs.push(l), level: 'debug' }),
    metrics: createMetricsEmitter((l) => metrics.push(l)),
    timeoutMarginMs: 10_000,
    ...options.deps,
  };
  (world as { deps: HandlerDeps }).deps = deps;
  return world;
}

export function lambdaContext(remainingMs = 600_000): LambdaContext {
  return { awsRequestId: 'req-1', functionName: 'test', getRemainingTimeInMillis: () => remainingMs };
}

export function parsedLogs(logs: readonly string[]): Record<string, unknown>[] {
  return logs.map((l) => JSON.parse(l) as Record<string, unknown>);
}

export async function readText(store: DirectoryStore, key: string): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const c of store.get(key)) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

export async function listKeys(store: DirectoryStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const i of store.list(prefix)) out.push(i.key);
  return out;
}

/** Calls a middy handler with any event (tests also send invalid ones). */
export function invoke<T>(
  handler: (event: never, context: never) => Promise<T>,
  event: unknown,
  context: LambdaContext = lambdaContext(),
): Promise<T> {
  return handler(event as never, context as never);
}
