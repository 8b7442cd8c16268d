/**
 * The test harness against the real servers. A missing binary fails these tests (never skips):
 * the error names the Debian package to install.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { formatLabels } from '../../lambdas/core/labels';
import type { Label, SeriesPiece } from '../../lambdas/core/types';
import { corpusSeries, corpusStats, PRESETS, writeOpenMetrics } from '../fixtures/corpus';
import { influxQuery, startInfluxDB, type InfluxServer } from '../harness/influx';
import { makeTempDir, removeDir, requireBinary, startProcess, stopAllProcesses, waitFor } from '../harness/ports';
import {
  backfillOpenMetrics,
  prometheusApi,
  queryInstant,
  snapshot,
  startPrometheus,
  type PrometheusServer,
} from '../harness/prometheus';
import { remoteWrite } from '../harness/remote-write-client';
import { exportSeries, mergeExported, startVictoriaMetrics, type VictoriaMetricsServer } from '../harness/victoria';

const small = PRESETS.small;

function labelsOf(record: Record<string, string>): Label[] {
  return Object.entries(record)
    .map(([name, value]) => ({ name, value }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function piece(labels: Record<string, string>, samples: [number, number][]): SeriesPiece {
  return {
    labels: labelsOf(labels),
    timestamps: Float64Array.from(samples.map((s) => s[0])),
    values: Float64Array.from(samples.map((s) => s[1])),
  };
}

afterAll(async () => {
  await stopAllProcesses();
});

describe('process helper', () => {
  test('a missing binary is an error naming the apt package', () => {
    expect(() => requireBinary('promvault-no-such-binary', 'promvault-pkg')).toThrow(
      'promvault-no-such-binary not found: apt-get install -y promvault-pkg',
    );
  });

  test('stop() escalates to SIGKILL when SIGTERM is ignored; output is kept', async () => {
    const proc = startProcess(
      process.execPath,
      [
        '-e',
        "process.on('SIGTERM', () => console.log('ignoring TERM')); console.error('ready'); setInterval(() => {}, 1000)",
      ],
      { name: 'stubborn', killAfterMs: 300 },
    );
    await waitFor(() => proc.output().includes('[stderr] ready'), {
      what: 'stubborn to start',
      timeoutMs: 10_000,
      process: proc,
    });
    const exit = await proc.stop();
    expect(exit.signal).toBe('SIGKILL');
    expect(proc.output()).toEqual(['[stderr] ready', 'ignoring TERM']);
  });

  test('waitFor fails at once, with the output, when the process dies', async () => {
    const proc = startProcess(process.execPath, ['-e', "console.error('boom'); process.exit(3)"], { name: 'dying' });
    await expect(waitFor(() => false, { what: 'never', timeoutMs: 20_000, process: proc })).rejects.toThrow(
      /dying exited \(code 3\) while waiting for never[\s\S]*boom/,
    );
  });
});

describe('Prometheus on the backfilled small corpus', () => {
  let dir: string;
  let prom: PrometheusServer | undefined;

  beforeAll(async () => {
    dir = await makeTempDir('harness-test');
  });
  afterAll(async () => {
    await prom?.stop();
    await removeDir(dir);
  });

  test('backfill, serve, query, snapshot, remote write', async () => {
    const file = join(dir, 'small.om');
    const dataDir = join(dir, 'tsdb');
    const stats = corpusStats(small);
    await writeOpenMetrics(small, file);
    const { blocks } = await backfillOpenMetrics(file, dataDir);
    expect(blocks).toHaveLength(1);
    expect(blocks[0]).toMatchObject({ samples: stats.samples, series: stats.series, minTimeMs: stats.minTimeMs });

    prom = await startPrometheus({ dataDir });

    // Every series is there, with exactly the generator's labels.
    const listed = await prometheusApi<Record<string, string>[]>(prom, 'series', {
      'match[]': '{__name__=~".+"}',
      start: String(stats.minTimeMs / 1000),
      end: String(stats.maxTimeMs / 1000),
    });
    const expected = [...corpusSeries(small)];
    expect(listed.map((l) => formatLabels(labelsOf(l))).sort()).toEqual(
      expected.map((s) => formatLabels(s.labels)).sort(),
    );

    // Sample values at exact sample timestamps, bit-exact through Prometheus' float formatting.
    const probes = expected.filter((s) =>
      [
        'node_cpu_seconds_total',
        'app_cache_hit_ratio',
        'http_request_duration_seconds_sum',
        'node_time_seconds',
        'rpc_client_duration_seconds',
        'app_rate_limit_per_second',
      ].includes(s.labels.find((l) => l.name === '__name__')!.value),
    );
    expect(probes.length).toBeGreaterThan(5);
    for (const s of probes.slice(0, 12)) {
      for (const i of [0, Math.floor(s.timestamps.length / 2), s.timestamps.length - 1]) {
        const t = s.timestamps[i]!;
        const got = await queryInstant(prom, formatLabels(s.labels), t);
        expect(got).toHaveLength(1);
        const v = s.values[i]!;
        const printed = got[0]!.value[1];
        if (Number.isNaN(v)) expect(printed).toBe('NaN');
        else if (v === Infinity) expect(printed).toBe('+Inf');
        else expect(Number(printed)).toBe(v);
      }
    }

    const snapDir = await snapshot(prom);
    const entries = await readdir(snapDir);
    expect(entries).toContain(blocks[0]!.ulid);
    const meta = JSON.parse(await readFile(join(snapDir, blocks[0]!.ulid, 'meta.json'), 'utf8')) as {
      stats: { numSamples: number };
    };
    expect(meta.stats.numSamples).toBe(stats.samples);
    expect((await stat(join(snapDir, blocks[0]!.ulid, 'index'))).size).toBeGreaterThan(0);

    // Remote write: a recent sample, then one a day older (accepted thanks to the OOO window).
    const now = Date.now();
    const name = { __name__: 'promvault_harness_probe', job: 'harness' };
    expect(await remoteWrite(prom.remoteWriteUrl, [piece(name, [[now, 42]])])).toMatchObject({ status: 204 });
    expect(await remoteWrite(prom.remoteWriteUrl, [piece(name, [[now - 86_400_000, 7.25]])])).toMatchObject({
      status: 204,
    });
    const recent = await queryInstant(prom, 'promvault_harness_probe', now);
    expect(recent.map((r) => r.value[1])).toEqual(['42']);
    const old = await queryInstant(prom, 'promvault_harness_probe', now - 86_400_000);
    expect(old.map((r) => r.value[1])).toEqual(['7.25']);
  });
});

describe('VictoriaMetrics', () => {
  let vm: VictoriaMetricsServer | undefined;
  afterAll(async () => {
    await vm?.stop();
  });

  test('starts, accepts a remote write, exports it', async () => {
    vm = await startVictoriaMetrics();
    const cpu = [...corpusSeries(small, { filter: (l) => l.some((x) => x.value === 'node_cpu_seconds_total') })][0]!;
    const special = piece({ __name__: 'promvault_harness_special', job: 'harness' }, [
      [small.startMs, Infinity],
      [small.startMs + 15_000, NaN], // dropped by VictoriaMetrics
      [small.startMs + 30_000, -Infinity],
    ]);
    expect(await remoteWrite(vm.remoteWriteUrl, [cpu, special])).toMatchObject({ status: 204 });
    const exported = await mergeExported(exportSeries(vm, { match: '{job=~"node|harness"}' }));
    const gotCpu = exported.get(formatLabels(cpu.labels));
    expect(gotCpu).toBeDefined();
    expect(Array.from(gotCpu!.timestamps)).toEqual(Array.from(cpu.timestamps));
    // 2-decimal values survive VictoriaMetrics' decimal storage.
    expect(Array.from(gotCpu!.values)).toEqual(Array.from(cpu.values));
    const gotSpecial = exported.get(formatLabels(special.labels));
    expect(Array.from(gotSpecial!.values)).toEqual([Infinity, -Infinity]);
  });
});

describe('InfluxDB 1.x', () => {
  let influx: InfluxServer | undefined;
  afterAll(async () => {
    await influx?.stop();
  });

  test('starts, accepts a remote write as measurement=name, field value, tags=labels', async () => {
    influx = await startInfluxDB();
    const probe = piece({ __name__: 'promvault_probe', instance: 'a:1', job: 'harness' }, [
      [small.startMs, 1.5],
      [small.startMs + 15_000, NaN], // silently dropped
      [small.startMs + 30_000, 0.1 + 0.2],
    ]);
    expect(await remoteWrite(influx.remoteWriteUrl, [probe])).toMatchObject({ status: 204 });
    const rows = await influxQuery(influx, 'SELECT "value" FROM "promvault_probe" GROUP BY *');
    expect(rows).toHaveLength(1);
    expect(rows[0]!.tags).toEqual({ __name__: 'promvault_probe', instance: 'a:1', job: 'harness' });
    expect(rows[0]!.values).toEqual([
      [small.startMs, 1.5],
      [small.startMs + 30_000, 0.1 + 0.2],
    ]);
    // One infinite sample fails the whole request.
    const inf = piece({ __name__: 'promvault_probe_inf' }, [[small.startMs, Infinity]]);
    expect((await remoteWrite(influx.remoteWriteUrl, [inf])).status).toBe(400);
  });
});
