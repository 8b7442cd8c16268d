/**
 * A real single-node VictoriaMetrics (Debian's 1.79: `apt-get install -y victoria-metrics`)
 * on 127.0.0.1, a free port and a temp dir.
 *
 * What VictoriaMetrics 1.79 does to data (checked by hand against /usr/bin/victoria-metrics;
 * compare with tolerances, never bit-wise):
 *  - Values are stored as decimal int64 mantissas with an exponent shared by a block of
 *    samples: full-precision floats keep ~12 significant digits (0.9816276316556088 comes back
 *    as 0.981627631655), and small values next to huge ones in the same series collapse to 0.
 *  - Ordinary NaN samples are dropped on ingestion; +Inf and -Inf are kept.
 *  - /api/v1/export writes +Inf, -Inf and NaN as bare tokens, which is not JSON; exportSeries
 *    copes.
 *  - Ingested data is searchable after an in-memory flush (~1-5 s); exportSeries calls
 *    /internal/force_flush first.
 */
import { formatLabels } from '../../lambdas/core/labels';
import type { Label, SeriesPiece } from '../../lambdas/core/types';
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

export interface VictoriaMetricsOptions {
  /** -retentionPeriod; default '100y'. */
  readonly retentionPeriod?: string;
  readonly extraArgs?: readonly string[];
  readonly startTimeoutMs?: number;
}

export interface VictoriaMetricsServer {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** Prometheus remote write: /api/v1/write. */
  readonly remoteWriteUrl: string;
  readonly dataDir: string;
  readonly port: number;
  readonly process: ManagedProcess;
  /** Stops VictoriaMetrics and removes its temp dir. Idempotent. */
  stop(): Promise<void>;
}

export async function startVictoriaMetrics(options: VictoriaMetricsOptions = {}): Promise<VictoriaMetricsServer> {
  const binary = requireBinary('victoria-metrics', 'victoria-metrics');
  const dataDir = await makeTempDir('victoria');
  try {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const proc = startProcess(
        binary,
        [
          `-httpListenAddr=127.0.0.1:${port}`,
          `-storageDataPath=${dataDir}`,
          `-retentionPeriod=${options.retentionPeriod ?? '100y'}`,
          // Old samples: no response cache surprises after backfilling.
          '-search.disableCache',
          '-loggerLevel=WARN',
          ...(options.extraArgs ?? []),
        ],
        { name: 'victoria-metrics' },
      );
      try {
        await waitFor(() => httpOk(`${url}/health`, 200), {
          what: `victoria-metrics ${url}/health`,
          timeoutMs: options.startTimeoutMs ?? 60_000,
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
        remoteWriteUrl: `${url}/api/v1/write`,
        dataDir,
        port,
        process: proc,
        stop: () =>
          (stopped ??= (async () => {
            await proc.stop();
            await removeDir(dataDir);
          })()),
      };
    }
  } catch (err) {
    await removeDir(dataDir);
    throw err;
  }
}

/** Makes recently ingested samples searchable. */
export async function flushVictoriaMetrics(vm: Pick<VictoriaMetricsServer, 'url'>): Promise<void> {
  const res = await fetchWithTimeout(`${vm.url}/internal/force_flush`, {}, 60_000);
  const text = await res.text();
  if (!res.ok) throw new Error(`force_flush -> HTTP ${res.status}: ${text.slice(0, 300)}`);
}

/** Parses one line of /api/v1/export (JSON, except for bare NaN/+Inf/-Inf values). */
export function parseExportLine(line: string): SeriesPiece {
  // Labels come first, so the last `,"values":[` is the key, not text inside a label value.
  const at = line.lastIndexOf(',"values":[');
  if (at < 0) throw new Error(`unexpected export line: ${line.slice(0, 200)}`);
  const fixed =
    line.slice(0, at) + line.slice(at).replace(/(?<=[[,])(NaN|[+-]Inf)(?=[,\]])/g, (token) => JSON.stringify(token));
  const parsed = JSON.parse(fixed) as {
    metric: Record<string, string>;
    values: (number | string)[];
    timestamps: number[];
  };
  const labels: Label[] = Object.entries(parsed.metric)
    .map(([name, value]) => ({ name, value }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const values = new Float64Array(parsed.values.length);
  parsed.values.forEach((v, i) => {
    values[i] = typeof v === 'number' ? v : v === 'NaN' ? NaN : v === '+Inf' ? Infinity : -Infinity;
  });
  return { labels, timestamps: Float64Array.from(parsed.timestamps), values };
}

export interface ExportOptions {
  /** A series selector; default every series. */
  readonly match?: string;
  /** Inclusive bounds in ms. */
  readonly startMs?: number;
  readonly endMs?: number;
}

/**
 * Streams /api/v1/export (after a force_flush). VictoriaMetrics may split a long series over
 * several lines; they arrive as separate pieces (see mergeExported).
 */
export async function* exportSeries(
  vm: Pick<VictoriaMetricsServer, 'url'>,
  options: ExportOptions = {},
): AsyncGenerator<SeriesPiece> {
  await flushVictoriaMetrics(vm);
  const params = new URLSearchParams({ 'match[]': options.match ?? '{__name__!=""}' });
  if (options.startMs !== undefined) params.set('start', (options.startMs / 1000).toFixed(3));
  if (options.endMs !== undefined) params.set('end', (options.endMs / 1000).toFixed(3));
  const res = await fetch(`${vm.url}/api/v1/export`, {
    method: 'POST',
    body: params.toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  if (!res.ok || !res.body) throw new Error(`export -> HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`);
  const decoder = new TextDecoder();
  let pending = '';
  for await (const chunk of res.body) {
    pending += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (line !== '') yield parseExportLine(line);
    }
  }
  pending += decoder.decode();
  if (pending.trim() !== '') yield parseExportLine(pending.trim());
}

/** Collects exported pieces into one series per label set (keyed by formatLabels), samples sorted by time. */
export async function mergeExported(pieces: AsyncIterable<SeriesPiece>): Promise<Map<string, SeriesPiece>> {
  const parts = new Map<string, SeriesPiece[]>();
  for await (const p of pieces) {
    const key = formatLabels(p.labels);
    const list = parts.get(key);
    if (list) list.push(p);
    else parts.set(key, [p]);
  }
  const out = new Map<string, SeriesPiece>();
  for (const [key, list] of parts) {
    const n = list.reduce((s, p) => s + p.timestamps.length, 0);
    const order: [number, number, number][] = [];
    list.forEach((p, j) => p.timestamps.forEach((t, i) => order.push([t, j, i])));
    order.sort((a, b) => a[0] - b[0]);
    const timestamps = new Float64Array(n);
    const values = new Float64Array(n);
    order.forEach(([t, j, i], k) => {
      timestamps[k] = t;
      values[k] = list[j]!.values[i]!;
    });
    out.set(key, { labels: list[0]!.labels, timestamps, values });
  }
  return out;
}
