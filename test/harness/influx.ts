/**
 * A real InfluxDB 1.x (Debian's influxd 1.6: `apt-get install -y influxdb`) with a generated
 * config: HTTP and the RPC/backup bind-address on 127.0.0.1 free ports, meta/data/wal in a
 * temp dir, reporting, the _internal monitor store, continuous queries and subscriber off.
 *
 * What InfluxDB 1.x does with Prometheus remote write (POST /api/v1/prom/write?db=NAME;
 * services/httpd/handler.go servePromWrite and prometheus/converters.go WriteRequestToPoints,
 * 1.6 branch):
 *  - each sample becomes one point: measurement = the `__name__` label value
 *    ("prom_metric_not_specified" without one), ONE field named `value` (float), and EVERY
 *    label as a tag, `__name__` included; the timestamp is the sample's ms, stored in ns;
 *  - NaN samples (staleness markers included) are silently dropped, the request still gets 204;
 *  - a +Inf or -Inf sample fails the WHOLE request with 400 ("+/-Inf is an unsupported value
 *    for field value");
 *  - the database must exist (404 otherwise); the default retention policy `autogen` keeps
 *    data forever, so old timestamps are accepted;
 *  - a point with the same measurement, tag set and timestamp overwrites the earlier one.
 * Query it with InfluxQL: SELECT "value" FROM "up" WHERE "job"='node' (epoch=ms gives ms times).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  fetchWithTimeout,
  freePort,
  httpOk,
  makeTempDir,
  removeDir,
  requireBinary,
  startProcess,
  waitFor,
  type ManagedProcess,
} from './ports';

export interface InfluxOptions {
  /** Database created at start; default 'promvault'. */
  readonly database?: string;
  readonly startTimeoutMs?: number;
}

export interface InfluxServer {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly database: string;
  /** `${url}/api/v1/prom/write?db=${database}` */
  readonly remoteWriteUrl: string;
  /** `${url}/api/v1/prom/read?db=${database}` */
  readonly remoteReadUrl: string;
  readonly dataDir: string;
  readonly port: number;
  readonly process: ManagedProcess;
  /** Stops influxd and removes its temp dir. Idempotent. */
  stop(): Promise<void>;
}

function config(dir: string, httpPort: number, rpcPort: number): string {
  return `# promvault test harness
reporting-disabled = true
bind-address = "127.0.0.1:${rpcPort}"

[meta]
  dir = "${join(dir, 'meta')}"

[data]
  dir = "${join(dir, 'data')}"
  wal-dir = "${join(dir, 'wal')}"
  wal-fsync-delay = "0s"
  query-log-enabled = false

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[continuous_queries]
  enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:${httpPort}"
  auth-enabled = false
  log-enabled = false
  pprof-enabled = false
  unix-socket-enabled = false
  max-body-size = 0

[logging]
  level = "warn"
  suppress-logo = true
`;
}

export async function startInfluxDB(options: InfluxOptions = {}): Promise<InfluxServer> {
  const binary = requireBinary('influxd', 'influxdb');
  const database = options.database ?? 'promvault';
  const dir = await makeTempDir('influx');
  // INFLUXDB_* variables override the config file: keep the ones from the environment out.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('INFLUXDB_')));
  try {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const rpcPort = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const configFile = join(dir, 'influxdb.conf');
      await writeFile(configFile, config(dir, port, rpcPort));
      const proc = startProcess(binary, ['run', '-config', configFile], { name: 'influxd', env });
      try {
        await waitFor(() => httpOk(`${url}/ping`, 204), {
          what: `influxd ${url}/ping`,
          timeoutMs: options.startTimeoutMs ?? 60_000,
          process: proc,
        });
      } catch (err) {
        await proc.stop();
        if (attempt < 3 && /address already in use/.test(proc.tail())) continue;
        throw err;
      }
      const server: InfluxServer = {
        url,
        database,
        remoteWriteUrl: `${url}/api/v1/prom/write?db=${encodeURIComponent(database)}`,
        remoteReadUrl: `${url}/api/v1/prom/read?db=${encodeURIComponent(database)}`,
        dataDir: dir,
        port,
        process: proc,
        stop: (() => {
          let stopped: Promise<void> | undefined;
          return () =>
            (stopped ??= (async () => {
              await proc.stop();
              await removeDir(dir);
            })());
        })(),
      };
      try {
        await influxQuery(server, `CREATE DATABASE ${quoteIdent(database)}`, { method: 'POST', db: null });
      } catch (err) {
        await proc.stop();
        throw err;
      }
      return server;
    }
  } catch (err) {
    await removeDir(dir);
    throw err;
  }
}

/** An InfluxQL identifier in double quotes. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** An InfluxQL string literal in single quotes. */
export function quoteString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export interface InfluxSeries {
  readonly name: string;
  readonly tags?: Record<string, string>;
  readonly columns: string[];
  /** With epoch=ms the first column, `time`, is ms since the epoch. */
  readonly values: unknown[][];
}

/**
 * Runs InfluxQL via /query with epoch=ms and returns the series of the first statement.
 * db: default the server's database; null for none (CREATE DATABASE and friends).
 */
export async function influxQuery(
  influx: Pick<InfluxServer, 'url' | 'database'>,
  q: string,
  options: { db?: string | null; method?: 'GET' | 'POST' } = {},
): Promise<InfluxSeries[]> {
  const params = new URLSearchParams({ q, epoch: 'ms' });
  const db = options.db === undefined ? influx.database : options.db;
  if (db !== null) params.set('db', db);
  const method = options.method ?? 'GET';
  const res =
    method === 'GET'
      ? await fetchWithTimeout(`${influx.url}/query?${params}`, {}, 60_000)
      : await fetchWithTimeout(
          `${influx.url}/query`,
          { method, body: params.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } },
          60_000,
        );
  const text = await res.text();
  let body: { results?: { error?: string; series?: InfluxSeries[] }[]; error?: string };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new Error(`influx ${q} -> HTTP ${res.status}: ${text.slice(0, 300)}`);
  }
  const first = body.results?.[0];
  const error = body.error ?? first?.error;
  if (!res.ok || error) throw new Error(`influx ${q} -> HTTP ${res.status}: ${error ?? text.slice(0, 300)}`);
  return first?.series ?? [];
}
