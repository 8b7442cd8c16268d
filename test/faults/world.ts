/**
 * The servers every fault runs against, all real and on 127.0.0.1: a Prometheus holding the small
 * generated history (the source), s3rver in its own process (killable) behind the conditional-write
 * proxy, a fresh Prometheus per restore (the remote-write target), a fault proxy in front of each,
 * and what the source holds, read once, to compare every store and target with bit for bit.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { HttpRemoteReader } from '../../lambdas/adapters/prometheus-remote-read';
import { openStore } from '../../lambdas/adapters/open-store';
import { decodeShard } from '../../lambdas/core/format';
import { scanAllManifests } from '../../lambdas/core/manifest';
import { parseSelector } from '../../lambdas/core/prom/selector';
import { fetchVerified } from '../../lambdas/core/restore/fetch';
import type { TimeWindow } from '../../lambdas/core/types';
import { runCli, type CliResult } from '../harness/cli';
import { collectSeries, countDifferences, type Collected, type SampleCounts } from '../harness/compare';
import { startConditionalProxy, type ConditionalProxy } from '../harness/conditional-s3';
import { startFaultProxy, PASS, type FaultProxy } from '../harness/fault-proxy';
import { startPrometheusWithHistory, type HistoryServer } from '../harness/history';
import { makeTempDir, removeDir } from '../harness/ports';
import { startPrometheus, type PrometheusServer } from '../harness/prometheus';
import { startS3rverProcess, type S3rverProcess } from '../harness/s3rver-process';

export const BUCKET = 'faults';
export const SOURCE_NAME = 'faults';
const S3_ENV = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };
/** Generous for a CLI run here; a hang shows as a kill by this timeout (exit -1). */
const CLI_TIMEOUT_MS = 90_000;

/** A Prometheus that a fault may SIGKILL and start again on the same data directory. */
export class RestartablePrometheus {
  private readonly retired: PrometheusServer[] = [];
  constructor(
    public current: PrometheusServer,
    private readonly proxy: FaultProxy,
  ) {
    proxy.setUpstream(current.url);
  }

  kill(): void {
    this.current.process.kill();
  }

  /** Starts it again on its data directory (after kill()) and points the proxy at it. */
  async restart(): Promise<void> {
    await this.current.process.exited;
    this.retired.push(this.current);
    this.current = await startPrometheus({ dataDir: this.current.dataDir });
    this.proxy.setUpstream(this.current.url);
  }

  /** The newest first: the first one owns the data directory and removes it. */
  async stop(): Promise<void> {
    await this.current.stop();
    for (const p of this.retired.reverse()) await p.stop();
  }
}

export interface World {
  readonly window: TimeWindow;
  readonly from: string;
  readonly to: string;
  readonly source: RestartablePrometheus;
  readonly sourceProxy: FaultProxy;
  readonly s3: S3rverProcess;
  readonly s3Proxy: FaultProxy;
  readonly targetProxy: FaultProxy;
  /** A directory store holding a complete backup of the window, for the restore faults. */
  readonly backedUp: string;
  readonly work: string;
  /** Every sample of the window in the source. */
  readonly expected: Map<string, Collected>;
  /** Every sample of the source in the window, counted. */
  readonly samples: number;
  stop(): Promise<void>;
}

const iso = (ms: number) => new Date(ms).toISOString();

export function readAll(remoteReadUrl: string, window: TimeWindow): Promise<Map<string, Collected>> {
  return collectSeries(new HttpRemoteReader({ url: remoteReadUrl }).read(window, parseSelector('{__name__=~".+"}')));
}

export async function startWorld(): Promise<World> {
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    // Small frames (the default is 1 MiB): each shard's answer is several frames, as on a big server.
    const history: HistoryServer = await startPrometheusWithHistory(
      'small',
      {},
      { extraArgs: ['--storage.remote.read-max-bytes-in-frame=4096'] },
    );
    const sourceProxy = await startFaultProxy(history.url);
    const source = new RestartablePrometheus(history, sourceProxy);
    stops.push(
      () => source.stop(),
      () => sourceProxy.stop(),
    );
    const s3 = await startS3rverProcess({ buckets: [BUCKET] });
    stops.push(() => s3.stop());
    const conditional: ConditionalProxy = await startConditionalProxy(s3.endpoint, s3.client);
    const s3Proxy = await startFaultProxy(conditional.endpoint);
    stops.push(
      () => conditional.stop(),
      () => s3Proxy.stop(),
    );
    // The target is started per restore fault; until then the proxy points nowhere useful.
    const targetProxy = await startFaultProxy('http://127.0.0.1:9');
    stops.push(() => targetProxy.stop());
    const work = await makeTempDir('faults');
    stops.push(() => removeDir(work));

    const window = { startMs: history.corpus.startMs, endMs: history.corpus.startMs + history.corpus.durationMs };
    const expected = await readAll(history.remoteReadUrl, window);
    let samples = 0;
    for (const s of expected.values()) samples += s.timestamps.length;
    const world: World = {
      window,
      from: iso(window.startMs),
      to: iso(window.endMs),
      source,
      sourceProxy,
      s3,
      s3Proxy,
      targetProxy,
      backedUp: path.join(work, 'backed-up'),
      work,
      expected,
      samples,
      stop,
    };
    const made = await cli(['backup', ...backupArgs(world, world.backedUp, [], 'patient')]);
    if (made.code !== 0) throw new Error(`the backup the restore faults start from failed: ${made.stderr}`);
    return world;
  } catch (err) {
    await stop();
    throw err;
  }
}

export function cli(args: readonly string[]): Promise<CliResult> {
  return runCli(args, { env: S3_ENV, timeoutMs: CLI_TIMEOUT_MS });
}

export const cliEnv = S3_ENV;
export const CLI_TIMEOUT = CLI_TIMEOUT_MS;

const isS3 = (store: string) => store.startsWith('s3://');

/** A fresh store for one fault: s3://faults/<name> or a directory. */
export function storeFor(world: World, kind: 's3' | 'dir', name: string): string {
  return kind === 's3' ? `s3://${BUCKET}/${name}` : path.join(world.work, name);
}

/**
 * The faulted run waits SHORT_TIMEOUT for the source and S3, so a held answer fails it quickly;
 * runs that prove recovery wait longer, so a loaded machine cannot fail them.
 */
const SHORT_TIMEOUT = '2s';
const PATIENT_TIMEOUT = '30s';

/** The flags of every backup here: the source and S3 through their proxies, 5-minute shards. */
export function backupArgs(
  world: World,
  store: string,
  extra: readonly string[] = [],
  wait: 'short' | 'patient' = 'short',
): string[] {
  const timeout = wait === 'short' ? SHORT_TIMEOUT : PATIENT_TIMEOUT;
  return [
    '--source',
    world.sourceProxy.origin,
    '--source-name',
    SOURCE_NAME,
    '--store',
    store,
    ...rangeArgs(world),
    '--shard-length',
    '5m',
    '--timeout',
    timeout,
    '--concurrency',
    '2',
    ...(isS3(store) ? ['--s3-endpoint', world.s3Proxy.origin, '--s3-timeout', timeout] : []),
    ...extra,
    '--json',
  ];
}

/** Flags that read `store` directly (not through the fault proxy). */
export function readStoreArgs(world: World, store: string): string[] {
  return ['--store', store, ...(isS3(store) ? ['--s3-endpoint', world.s3.endpoint] : [])];
}

export function rangeArgs(world: World): string[] {
  return ['--from', world.from, '--to', world.to];
}

/** `verify` of the whole range of `store`, sample by sample against the remote-read server at `url`. */
export function verifyAgainst(world: World, store: string, url: string): Promise<CliResult> {
  return cli(['verify', ...readStoreArgs(world, store), ...rangeArgs(world), '--against', url, '--json']);
}

export interface StoreState {
  /** Samples of the window missing from, or different in, the store. */
  readonly counts: SampleCounts;
  /** Committed shards that do not read back whole (unreadable, or not every sample of their window). */
  readonly partialShards: string[];
}

/** Reads every committed shard of `store` and compares it with the source. */
export async function storeState(world: World, store: string): Promise<StoreState> {
  const opened = openStore(store, isS3(store) ? { s3Client: world.s3.client } : {});
  const scan = await scanAllManifests(opened);
  const partialShards = scan.unreadable.map((u) => `unreadable manifest ${u.key}`);
  const all = new Map<string, Collected>();
  for (const manifest of scan.manifests) {
    const label = `${manifest.source} ${iso(manifest.start_ms)}`;
    try {
      const shard = await collectSeries(decodeShard(await fetchVerified(opened, manifest)));
      const within = (t: number) => t >= manifest.start_ms && t < manifest.end_ms;
      const own = countDifferences(world.expected, shard, within);
      if (own.lost + own.changed > 0) partialShards.push(`${label}: ${own.lost} lost, ${own.changed} changed`);
      await collectSeries(decodeShard(await fetchVerified(opened, manifest)), all);
    } catch (err) {
      partialShards.push(`${label}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return { counts: countDifferences(world.expected, all), partialShards };
}

/** A fresh, empty remote-write target behind the target proxy. */
export async function freshTarget(world: World): Promise<RestartablePrometheus> {
  return new RestartablePrometheus(await startPrometheus(), world.targetProxy);
}

export function disarm(world: World): void {
  for (const proxy of [world.sourceProxy, world.s3Proxy, world.targetProxy]) proxy.setRule(() => PASS);
}

export async function removeStore(world: World, store: string): Promise<void> {
  if (!isS3(store)) await rm(store, { recursive: true, force: true });
}
