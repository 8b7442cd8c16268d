/**
 * Query mode (issue 16) against real servers: a query-mode backup of a Prometheus holds exactly
 * the samples a remote-read backup of the same range holds (bit for bit; staleness markers are
 * what the query API cannot see); hostile label values, special values and the window's
 * boundaries on Prometheus 2.42 (closed range selectors); a server limit (422) split around;
 * VictoriaMetrics read through its query API, compared with its own raw export.
 */
import { startPrometheusWithHistory, type HistoryServer } from '../harness/history';
import { startPrometheus, type PrometheusServer } from '../harness/prometheus';
import { exportSeries } from '../harness/victoria';
import { startVictoriaMetrics, type VictoriaMetricsServer } from '../harness/victoria';
import { makeTempDir, removeDir } from '../harness/ports';
import { runCli } from '../harness/cli';
import { collectSeries, diffSeries, totalSamples, type Collected } from '../harness/compare';
import { remoteWrite } from '../harness/remote-write-client';
import { corpusOptions, corpusSeries } from '../fixtures/corpus';
import { DirectoryStore } from '../../lambdas/adapters/dir-store';
import { HttpRemoteReader } from '../../lambdas/adapters/prometheus-remote-read';
import { HttpQueryReader } from '../../lambdas/adapters/prometheus-query';
import { listAllManifests } from '../../lambdas/core/manifest';
import { decodeShard } from '../../lambdas/core/format';
import { fetchVerified } from '../../lambdas/core/restore/fetch';
import { parseSelector } from '../../lambdas/core/prom/selector';
import { GO_NAN_BITS } from '../../lambdas/core/prom/query-api';
import { STALE_NAN_BITS, type Label, type SeriesPiece } from '../../lambdas/core/types';

jest.setTimeout(600_000);

function piece(labels: Record<string, string>, samples: [number, bigint | number][]): SeriesPiece {
  const sorted: Label[] = Object.entries(labels)
    .map(([name, value]) => ({ name, value }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  const values = new Float64Array(samples.length);
  const bits = new BigUint64Array(values.buffer);
  samples.forEach(([, v], i) => {
    if (typeof v === 'bigint') bits[i] = v;
    else values[i] = v;
  });
  return { labels: sorted, timestamps: Float64Array.from(samples.map(([t]) => t)), values };
}

function bitsOf(v: number): bigint {
  return new BigUint64Array(Float64Array.of(v).buffer)[0]!;
}

/** A copy without staleness markers: what the query API can return. */
function withoutStaleMarkers(series: Map<string, Collected>): Map<string, Collected> {
  const out = new Map<string, Collected>();
  for (const [key, s] of series) {
    const keep = s.bits.map((b) => b !== STALE_NAN_BITS);
    const kept = {
      labels: s.labels,
      timestamps: s.timestamps.filter((_, i) => keep[i]),
      bits: s.bits.filter((_, i) => keep[i]),
    };
    if (kept.timestamps.length > 0) out.set(key, kept);
  }
  return out;
}

describe('query mode against Prometheus 2.42', () => {
  let prom: HistoryServer;
  let work: string;

  beforeAll(async () => {
    prom = await startPrometheusWithHistory('integration');
    work = await makeTempDir('query-mode');
  });
  afterAll(async () => {
    await prom?.stop();
    if (work) await removeDir(work);
  });

  it('a query-mode backup holds exactly the samples of a remote-read backup of the same range', async () => {
    const from = String(prom.corpus.startMs / 1000);
    const to = String((prom.corpus.startMs + prom.corpus.durationMs) / 1000);
    const common = ['--source', prom.url, '--source-name', 'prom', '--from', from, '--to', to, '--json'];
    const rr = await runCli(['backup', ...common, '--store', `${work}/rr`]);
    expect(rr.code).toBe(0);
    // A small budget, so that series groups and sub-windows are exercised on the way.
    const q = await runCli([
      'backup',
      ...common,
      '--store',
      `${work}/query`,
      '--source-mode',
      'query',
      '--max-samples-per-query',
      '50000',
    ]);
    expect(q.stderr).toBe('');
    expect(q.code).toBe(0);
    expect(q.json?.samples).toBe(prom.samples);
    expect(q.json?.samples).toBe(rr.json?.samples);

    const [rrStore, qStore] = [new DirectoryStore(`${work}/rr`), new DirectoryStore(`${work}/query`)];
    const rrManifests = await listAllManifests(rrStore);
    const qManifests = await listAllManifests(qStore);
    expect(qManifests.map((m) => m.object_key)).toEqual(rrManifests.map((m) => m.object_key));
    for (const [i, m] of rrManifests.entries()) {
      const expected = await collectSeries(decodeShard(await fetchVerified(rrStore, m)));
      const actual = await collectSeries(decodeShard(await fetchVerified(qStore, qManifests[i]!)));
      expect(diffSeries(expected, actual)).toEqual([]);
    }
  });
});

describe('query mode: values, labels and boundaries', () => {
  let prom: PrometheusServer;
  const t0 = Math.floor(Date.now() / 60_000) * 60_000 - 30 * 60_000;
  const window = { startMs: t0, endMs: t0 + 60_000 };

  beforeAll(async () => {
    prom = await startPrometheus();
    const hostile = [
      'a "quoted" value',
      'back\\slash\\',
      'new\nline\ttab',
      'ünïcödé ✓ 𝄞',
      '.*+?()|[]{}^$ regex metacharacters',
      "single ' quote",
    ];
    const series: SeriesPiece[] = [
      // Samples 1 ms before, at, 1 ms before the end of, and at the end of the window.
      piece({ __name__: 'pv_edge' }, [
        [t0 - 1, 1],
        [t0, 2],
        [t0 + 59_999, 3],
        [t0 + 60_000, 4],
      ]),
      piece({ __name__: 'pv_values', kind: 'special' }, [
        [t0 + 1000, -0],
        [t0 + 2000, Infinity],
        [t0 + 3000, -Infinity],
        [t0 + 4000, GO_NAN_BITS],
        [t0 + 5000, 0.1],
        [t0 + 6000, 1e300],
        [t0 + 7000, 5e-324],
        [t0 + 8000, -1.7976931348623157e308],
        [t0 + 9000, 0.9816276316556088],
        [t0 + 10_000, 123456789.12345679],
      ]),
      // A staleness marker: remote read returns it, the query API cannot.
      piece({ __name__: 'pv_stale' }, [
        [t0 + 1000, 7],
        [t0 + 2000, STALE_NAN_BITS],
      ]),
      // A series whose label set is a subset of another's: exact matchers alone would select both.
      piece({ __name__: 'pv_sub', a: '1' }, [[t0 + 1000, 1]]),
      piece({ __name__: 'pv_sub', a: '1', b: '2' }, [[t0 + 1000, 2]]),
      ...hostile.map((v, i) => piece({ __name__: 'pv_hostile', v }, [[t0 + 1000 * (i + 1), i]])),
    ];
    const res = await remoteWrite(prom.remoteWriteUrl, series);
    expect(res.status).toBe(204);
  });
  afterAll(async () => prom?.stop());

  const readBoth = async (maxSeriesPerQuery?: number) => {
    const rr = await collectSeries(new HttpRemoteReader({ url: prom.remoteReadUrl }).read(window, []));
    const q = await collectSeries(new HttpQueryReader({ url: prom.url, maxSeriesPerQuery }).read(window, []));
    return { rr, q };
  };

  it('returns the remote-read samples bit for bit, without staleness markers', async () => {
    const { rr, q } = await readBoth();
    expect(rr.get('pv_stale{}')!.bits).toContain(STALE_NAN_BITS);
    expect(diffSeries(withoutStaleMarkers(rr), q)).toEqual([]);
    expect(totalSamples(q)).toBe(totalSamples(rr) - 1);
    const values = q.get('pv_values{kind="special"}')!;
    expect(values.bits[0]).toBe(bitsOf(-0));
    expect(values.bits[3]).toBe(GO_NAN_BITS);
    expect(q.get('pv_hostile{v="back\\\\slash\\\\"}')).toBeDefined();
  });

  it('keeps exactly [start, end) on closed range selectors', async () => {
    const { q } = await readBoth();
    expect(q.get('pv_edge{}')!.timestamps).toEqual([t0, t0 + 59_999]);
  });

  it('groups of one series select exactly their series, however the labels are spelt', async () => {
    const { rr, q } = await readBoth(1);
    expect(diffSeries(withoutStaleMarkers(rr), q)).toEqual([]);
    expect(q.get('pv_sub{a="1"}')!.timestamps).toHaveLength(1);
  });
});

describe('query mode: a server limit is split around', () => {
  let prom: PrometheusServer;
  let history: HistoryServer;

  beforeAll(async () => {
    history = await startPrometheusWithHistory('small', {}, { extraArgs: ['--query.max-samples=500'] });
    prom = history;
  });
  afterAll(async () => prom?.stop());

  it('a 422 "too many samples" halves series groups and windows until the answers fit', async () => {
    const window = { startMs: history.corpus.startMs, endMs: history.corpus.startMs + history.corpus.durationMs };
    const statuses: number[] = [];
    const counting: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      statuses.push(res.status);
      return res;
    };
    // A budget far above the server's limit: only the server's refusals make it split.
    const reader = new HttpQueryReader({ url: prom.url, fetchImpl: counting, maxSamplesPerQuery: 10_000_000 });
    const q = await collectSeries(reader.read(window, []));
    const rr = await collectSeries(new HttpRemoteReader({ url: prom.remoteReadUrl }).read(window, []));
    expect(statuses).toContain(422);
    expect(totalSamples(q)).toBe(history.samples);
    expect(diffSeries(rr, q)).toEqual([]);
  });

  it('a series too large for the limit even in 1 ms windows fails, naming the limit', async () => {
    const window = { startMs: history.corpus.startMs, endMs: history.corpus.startMs + history.corpus.durationMs };
    // 500 samples of one series within its window cannot be split below the server's 1-sample floor.
    const strict = await startPrometheusWithHistory('small', {}, { extraArgs: ['--query.max-samples=0'] });
    try {
      const reader = new HttpQueryReader({ url: strict.url });
      await expect(collectSeries(reader.read(window, parseSelector('{__name__="up"}')))).rejects.toThrow(
        /still too large after \d+ splits.*--query\.max-samples/,
      );
    } finally {
      await strict.stop();
    }
  });
});

describe('query mode against VictoriaMetrics', () => {
  let vm: VictoriaMetricsServer;
  const corpus = corpusOptions('small', { startMs: Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3 * 3_600_000 });

  beforeAll(async () => {
    vm = await startVictoriaMetrics();
    const batch: SeriesPiece[] = [];
    for (const s of corpusSeries(corpus)) {
      batch.push(s);
      if (batch.length >= 50) {
        expect((await remoteWrite(vm.remoteWriteUrl, batch.splice(0))).status).toBe(204);
      }
    }
    if (batch.length > 0) expect((await remoteWrite(vm.remoteWriteUrl, batch)).status).toBe(204);
  });
  afterAll(async () => vm?.stop());

  it('reads exactly what VictoriaMetrics exports, bit for bit', async () => {
    const window = { startMs: corpus.startMs, endMs: corpus.startMs + corpus.durationMs };
    const exported = await collectSeries(
      sortedPieces(exportSeries(vm, { startMs: window.startMs, endMs: window.endMs - 1 })),
    );
    const reader = new HttpQueryReader({ url: vm.url, maxSamplesPerQuery: 20_000 });
    const q = await collectSeries(reader.read(window, []));
    expect(totalSamples(q)).toBeGreaterThan(5000);
    expect(diffSeries(exported, q)).toEqual([]);
  });

  it('a remote-read backup of VictoriaMetrics says to use --source-mode query', async () => {
    const work = await makeTempDir('query-mode-vm');
    try {
      const r = await runCli(['backup', '--source', vm.url, '--store', work, '--from', 'now-2h', '--to', 'now-1h']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/unsupported path/);
      expect(r.stderr).toMatch(/--source-mode query/);
    } finally {
      await removeDir(work);
    }
  });
});

/** Export pieces merged per series, in time order (VictoriaMetrics may split a series over lines). */
async function* sortedPieces(pieces: AsyncIterable<SeriesPiece>): AsyncGenerator<SeriesPiece> {
  const all = await collectSeries(pieces);
  for (const s of all.values()) {
    const order = s.timestamps.map((_, i) => i).sort((a, b) => s.timestamps[a]! - s.timestamps[b]!);
    const values = new Float64Array(order.length);
    const bits = new BigUint64Array(values.buffer);
    order.forEach((j, i) => (bits[i] = s.bits[j]!));
    yield { labels: s.labels, timestamps: Float64Array.from(order.map((j) => s.timestamps[j]!)), values };
  }
}
