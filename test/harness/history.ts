/**
 * A Prometheus holding generated history. Generating and backfilling a preset takes seconds to
 * a minute, so the backfilled TSDB is built once per machine (keyed by the preset and the
 * generator's source) and each caller gets its own copy to serve.
 */
import { createHash } from 'node:crypto';
import { cp, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { corpusOptions, corpusStats, writeOpenMetrics, type CorpusOptions, type PresetName } from '../fixtures/corpus';
import { backfillOpenMetrics, startPrometheus, type PrometheusOptions, type PrometheusServer } from './prometheus';
import { makeTempDir } from './ports';

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

async function cacheKey(options: CorpusOptions): Promise<string> {
  const generator = await readFile(path.join(__dirname, '../fixtures/corpus.ts'));
  return createHash('sha256').update(JSON.stringify(options)).update(generator).digest('hex').slice(0, 16);
}

/** The path of a backfilled TSDB for `options`, building it when absent. */
export async function backfilledTsdb(options: CorpusOptions): Promise<string> {
  const root = path.join(os.tmpdir(), 'promvault-fixtures');
  const dir = path.join(root, await cacheKey(options));
  if (await exists(path.join(dir, 'complete'))) return dir;
  await mkdir(root, { recursive: true });
  const work = await makeTempDir('promvault-backfill');
  try {
    const file = path.join(work, 'history.om');
    await writeOpenMetrics(options, file);
    const tsdb = path.join(work, 'tsdb');
    await backfillOpenMetrics(file, tsdb);
    await rm(file);
    await mkdir(path.join(tsdb, 'complete'));
    await rm(dir, { recursive: true, force: true });
    // Rename is atomic: concurrent builders never see a half-copied cache entry.
    await rename(tsdb, dir).catch(async () => {
      if (!(await exists(path.join(dir, 'complete')))) throw new Error(`could not place backfilled TSDB at ${dir}`);
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return dir;
}

export interface HistoryServer extends PrometheusServer {
  readonly corpus: CorpusOptions;
  readonly samples: number;
  readonly series: number;
}

export async function startPrometheusWithHistory(
  preset: PresetName | CorpusOptions,
  overrides: Partial<CorpusOptions> = {},
  promOptions: PrometheusOptions = {},
): Promise<HistoryServer> {
  const corpus = corpusOptions(preset, overrides);
  const cached = await backfilledTsdb(corpus);
  const dataDir = await makeTempDir('prometheus-history');
  await cp(cached, dataDir, { recursive: true, filter: (src) => path.basename(src) !== 'complete' });
  const prom = await startPrometheus({ ...promOptions, dataDir });
  const stats = corpusStats(corpus);
  const stop = async () => {
    await prom.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
  return { ...prom, stop, corpus, samples: stats.samples, series: stats.series };
}
