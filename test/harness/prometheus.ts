/**
 * A real Prometheus (Debian's 2.42: `apt-get install -y prometheus`) for integration tests:
 * 127.0.0.1 on a free port, temp dirs, no scrape jobs, remote-write receiver, admin API and
 * out-of-order ingestion on.
 *
 * About out_of_order_time_window (default 30d here): Prometheus only accepts a sample older
 * than the newest sample in its head if it is within that window of it; remote-writing old
 * history into a Prometheus that already holds newer data needs it. Samples older than
 * (head max time - window) are still rejected ("too old"), and an empty head takes the first
 * sample appended as its reference.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  fetchWithTimeout,
  freePort,
  httpOk,
  makeTempDir,
  removeDir,
  requireBinary,
  runCommand,
  startProcess,
  waitFor,
  type ManagedProcess,
} from './ports';

export interface PrometheusOptions {
  /**
   * An existing TSDB directory to serve (a backfilled one, a copy of a snapshot). Prometheus
   * writes into it (WAL, lock file, compactions) and it is NOT removed by stop(). Default: a
   * fresh temp dir, removed by stop().
   */
  readonly dataDir?: string;
  /** storage.tsdb.out_of_order_time_window; default '30d'. */
  readonly outOfOrderWindow?: string;
  /** --storage.tsdb.retention.time; default '100y' (old fixture samples must not expire). */
  readonly retention?: string;
  readonly extraArgs?: readonly string[];
  /**
   * CPUs to run on (`taskset -c` list, e.g. '1'); default: any. Go sizes GOMAXPROCS from the
   * affinity it starts with, so Prometheus then uses only these. taskset execs Prometheus: the
   * pid stays its own.
   */
  readonly cpus?: string;
  /**
   * Scrape its own /metrics at this interval (e.g. '1s'), as job "prometheus"; default: nothing
   * is scraped.
   */
  readonly selfScrapeInterval?: string;
  /** How long to wait for /-/ready (WAL replay of a big dir takes a while); default 120 s. */
  readonly startTimeoutMs?: number;
}

export interface PrometheusServer {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly remoteReadUrl: string;
  readonly remoteWriteUrl: string;
  readonly dataDir: string;
  readonly port: number;
  readonly process: ManagedProcess;
  /** Stops Prometheus (SIGTERM, then SIGKILL) and removes the temp dirs it created. Idempotent. */
  stop(): Promise<void>;
}

function prometheusConfig(options: PrometheusOptions, port: number): string {
  const self = options.selfScrapeInterval;
  return [
    self === undefined ? '# promvault test harness: nothing is scraped.' : '# promvault test harness: scrapes itself.',
    'global:',
    `  scrape_interval: ${self ?? '1h'}`,
    '  evaluation_interval: 1h',
    'storage:',
    '  tsdb:',
    `    out_of_order_time_window: ${options.outOfOrderWindow ?? '30d'}`,
    ...(self === undefined
      ? []
      : [
          'scrape_configs:',
          '  - job_name: prometheus',
          '    static_configs:',
          `      - targets: ['127.0.0.1:${port}']`,
        ]),
    '',
  ].join('\n');
}

export async function startPrometheus(options: PrometheusOptions = {}): Promise<PrometheusServer> {
  const binary = requireBinary('prometheus', 'prometheus');
  const configDir = await makeTempDir('prometheus-config');
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await makeTempDir('prometheus-data'));
  const cleanup = async (): Promise<void> => {
    await removeDir(configDir);
    if (ownsDataDir) await removeDir(dataDir);
  };
  try {
    await mkdir(dataDir, { recursive: true });
    const configFile = join(configDir, 'prometheus.yml');
    // A port can be taken between freePort() and the bind: retry on that.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      await writeFile(configFile, prometheusConfig(options, port));
      const args = [
        `--config.file=${configFile}`,
        `--web.listen-address=127.0.0.1:${port}`,
        `--storage.tsdb.path=${dataDir}`,
        `--storage.tsdb.retention.time=${options.retention ?? '100y'}`,
        '--web.enable-remote-write-receiver',
        '--web.enable-admin-api',
        '--web.enable-lifecycle',
        ...(options.extraArgs ?? []),
      ];
      const [command, commandArgs] =
        options.cpus === undefined
          ? [binary, args]
          : [requireBinary('taskset', 'util-linux'), ['-c', options.cpus, binary, ...args]];
      const proc = startProcess(command, commandArgs, { name: 'prometheus' });
      try {
        await waitFor(() => httpOk(`${url}/-/ready`, 200), {
          what: `prometheus ${url}/-/ready`,
          timeoutMs: options.startTimeoutMs ?? 120_000,
          process: proc,
        });
      } catch (err) {
        await proc.stop();
        if (attempt < 3 && /address already in use/.test(proc.tail())) continue;
        throw err;
      }
      let stopped: Promise<void> | undefined;
      return {
        url,
        remoteReadUrl: `${url}/api/v1/read`,
        remoteWriteUrl: `${url}/api/v1/write`,
        dataDir,
        port,
        process: proc,
        stop: () =>
          (stopped ??= (async () => {
            await proc.stop();
            await cleanup();
          })()),
      };
    }
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** GET /api/v1/<path> and return `data`; throws with Prometheus' error text on failure. */
export async function prometheusApi<T = unknown>(
  prom: Pick<PrometheusServer, 'url'>,
  path: string,
  params: Record<string, string> = {},
  method: 'GET' | 'POST' = 'GET',
): Promise<T> {
  const qs = new URLSearchParams(params).toString();
  const url = `${prom.url}/api/v1/${path}`;
  const res =
    method === 'GET'
      ? await fetchWithTimeout(qs ? `${url}?${qs}` : url, {}, 60_000)
      : await fetchWithTimeout(
          url,
          { method, body: qs, headers: { 'content-type': 'application/x-www-form-urlencoded' } },
          60_000,
        );
  const text = await res.text();
  let body: { status?: string; data?: T; error?: string };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new Error(`${method} ${url} -> HTTP ${res.status}: ${text.slice(0, 500)}`);
  }
  if (!res.ok || body.status !== 'success') {
    throw new Error(`${method} ${url} ${qs} -> HTTP ${res.status}: ${body.error ?? text.slice(0, 500)}`);
  }
  return body.data as T;
}

export interface InstantSample {
  readonly metric: Record<string, string>;
  /** [unix seconds, value as Prometheus prints it ("NaN", "+Inf", shortest repr)]. */
  readonly value: [number, string];
}

/** An instant query at timeMs (default now); the result must be a vector. */
export async function queryInstant(
  prom: Pick<PrometheusServer, 'url'>,
  expr: string,
  timeMs?: number,
): Promise<InstantSample[]> {
  const params: Record<string, string> = { query: expr };
  if (timeMs !== undefined) params.time = (timeMs / 1000).toFixed(3);
  const data = await prometheusApi<{ resultType: string; result: unknown }>(prom, 'query', params, 'POST');
  if (data.resultType === 'scalar') {
    return [{ metric: {}, value: data.result as [number, string] }];
  }
  if (data.resultType !== 'vector') throw new Error(`query ${expr} returned a ${data.resultType}, not a vector`);
  return data.result as InstantSample[];
}

/**
 * Takes a snapshot with the admin API (POST /api/v1/admin/tsdb/snapshot) and returns the
 * absolute path of its directory, `<dataDir>/snapshots/<name>`. skipHead: leave out data
 * only in the head (not yet in a block).
 */
export async function snapshot(prom: PrometheusServer, options: { skipHead?: boolean } = {}): Promise<string> {
  const data = await prometheusApi<{ name: string }>(
    prom,
    'admin/tsdb/snapshot',
    { skip_head: String(options.skipHead ?? false) },
    'POST',
  );
  return join(prom.dataDir, 'snapshots', data.name);
}

export interface BackfilledBlock {
  readonly ulid: string;
  readonly minTimeMs: number;
  readonly maxTimeMs: number;
  readonly samples: number;
  readonly chunks: number;
  readonly series: number;
  readonly bytes: number;
}

/**
 * `promtool tsdb create-blocks-from openmetrics FILE DATADIR`: writes TSDB blocks into dataDir
 * (created if needed). Do it before starting Prometheus on that dir (a running Prometheus
 * only notices new blocks at its next reload).
 *
 * maxBlockDuration (default '486h') is promtool's hidden --max-block-duration flag (present in
 * 2.42). promtool rounds it DOWN to one of Prometheus' block ranges, 2h * 3^k (2h, 6h, 18h,
 * 54h, 162h, 486h, 1458h...), and aligns blocks to multiples of that since the epoch. The
 * fixture presets start at CORPUS_EPOCH_MS, a multiple of 486h, so each preset lands in a
 * single block. 486h stays below the 31d Prometheus itself compacts up to with a long retention.
 */
export async function backfillOpenMetrics(
  openMetricsFile: string,
  dataDir: string,
  options: { maxBlockDuration?: string; timeoutMs?: number } = {},
): Promise<{ blocks: BackfilledBlock[]; durationMs: number }> {
  const promtool = requireBinary('promtool', 'prometheus');
  await mkdir(dataDir, { recursive: true });
  const { output, durationMs } = await runCommand(
    promtool,
    [
      'tsdb',
      'create-blocks-from',
      `--max-block-duration=${options.maxBlockDuration ?? '486h'}`,
      'openmetrics',
      openMetricsFile,
      dataDir,
    ],
    { name: 'promtool', tailLines: 10_000, timeoutMs: options.timeoutMs },
  );
  // BLOCK ULID  MIN TIME  MAX TIME  DURATION  NUM SAMPLES  NUM CHUNKS  NUM SERIES  SIZE
  const blocks: BackfilledBlock[] = [];
  for (const line of output.split('\n')) {
    const m = /^([0-9A-HJKMNP-TV-Z]{26})\s+(\d+)\s+(\d+)\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$/.exec(line);
    if (!m) continue;
    blocks.push({
      ulid: m[1]!,
      minTimeMs: Number(m[2]),
      maxTimeMs: Number(m[3]),
      samples: Number(m[4]),
      chunks: Number(m[5]),
      series: Number(m[6]),
      bytes: Number(m[7]),
    });
  }
  return { blocks, durationMs };
}
