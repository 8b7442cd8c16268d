/**
 * `npm run demo`: the whole product on one machine, no AWS account.
 *
 *   generated history ─► Prometheus A ─► backup state machine ─► local store
 *   local store ─► restore state machine ─► Prometheus B (empty) ─► compare A and B sample by sample
 *
 * Both state machines are the definitions `cdk deploy` ships, run in-process by the local runner
 * with each Lambda task bound to its handler module. The last stdout line is one JSON object.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { runBackupLocally, runRestoreLocally } from '../cli/local-runner/api';
import { HttpRemoteReader } from '../lambdas/adapters/prometheus-remote-read';
import { formatBytes, formatCount } from '../cli/output';
import { corpusOptions, corpusStats, writeOpenMetrics } from '../test/fixtures/corpus';
import { backfillOpenMetrics, startPrometheus, type PrometheusServer } from '../test/harness/prometheus';
import { makeTempDir, stopAllProcesses } from '../test/harness/ports';
import { compareWithSource } from '../lambdas/core/verify';
import type { SeriesPiece } from '../lambdas/core/types';

const HOUR = 3_600_000;
const HISTORY_HOURS = 3;

const say = (line: string) => process.stdout.write(line + '\n');

/** Every sample of every series in [fromMs, toMs), streamed in label-set order. */
function readEverything(prom: PrometheusServer, fromMs: number, toMs: number): AsyncIterable<SeriesPiece> {
  return new HttpRemoteReader({ url: prom.remoteReadUrl }).read({ startMs: fromMs, endMs: toMs }, []);
}

async function main(): Promise<number> {
  const work = await makeTempDir('promvault-demo');
  const store = path.join(work, 'store');
  // The last few whole hours, so the history looks like what a real Prometheus holds today.
  const toMs = Math.floor(Date.now() / HOUR) * HOUR;
  const fromMs = toMs - HISTORY_HOURS * HOUR;
  const corpus = corpusOptions('integration', { startMs: fromMs, durationMs: HISTORY_HOURS * HOUR, seed: 7 });
  const expected = corpusStats(corpus);

  say(
    `promvault demo: ${HISTORY_HOURS} h of generated history (${expected.series} series, ${formatCount(expected.samples)} samples)`,
  );
  const file = path.join(work, 'history.om');
  await writeOpenMetrics(corpus, file);
  const tsdb = path.join(work, 'prometheus-a');
  await backfillOpenMetrics(file, tsdb);
  await rm(file);
  const a = await startPrometheus({ dataDir: tsdb });
  say(`  Prometheus A (the source) serves it at ${a.url}`);

  // The deployed configuration, with the source pointed at A; the store is a local directory.
  const context = { promvault: { sources: [{ name: 'demo', remoteReadUrl: a.url, shardLength: '1h' }] } };
  const backup = await runBackupLocally({
    context,
    sourceName: 'demo',
    sourceUrl: a.url,
    from: fromMs,
    to: toMs,
    store,
    onProgress: (p) => process.stderr.isTTY && process.stderr.write(`\r  backup: ${p.done}/${p.total ?? '?'} shards `),
  });
  if (process.stderr.isTTY) process.stderr.write('\n');
  if (backup.status !== 'SUCCEEDED')
    throw new Error(`backup run ${backup.execution} failed: ${backup.message ?? backup.error}`);
  const backedUp = backup.samples ?? 0;
  say(
    `  backup state machine: ${backup.committed}/${backup.shards} shards committed, ${formatCount(backedUp)} samples, ${formatBytes(backup.stored_bytes ?? 0)} in ${store}, ${backup.seconds.toFixed(1)} s`,
  );

  const b = await startPrometheus({ outOfOrderWindow: '30d' });
  say(`  Prometheus B (empty, out-of-order window 30d) at ${b.url}`);
  const restore = await runRestoreLocally({
    context,
    from: fromMs,
    to: toMs,
    target: b.remoteWriteUrl,
    store,
    onProgress: (p) => process.stderr.isTTY && process.stderr.write(`\r  restore: ${p.done}/${p.total ?? '?'} shards `),
  });
  if (process.stderr.isTTY) process.stderr.write('\n');
  if (restore.status !== 'SUCCEEDED')
    throw new Error(`restore run ${restore.execution} failed: ${restore.message ?? restore.error}`);
  say(
    `  restore state machine: ${restore.restored}/${restore.shards} shards, ${formatCount(restore.samples)} samples written to B, ${restore.seconds.toFixed(1)} s`,
  );

  // The product's own checker (`promvault verify --against`), with B as the copy and A as the source.
  const problems: string[] = [];
  const { mismatches } = await compareWithSource(
    readEverything(b, fromMs, toMs),
    readEverything(a, fromMs, toMs),
    problems,
  );
  for (const p of problems) say(`    ${p}`);
  say(
    `  compared A and B over remote read, bit for bit: ${mismatches === 0 ? 'identical' : `${formatCount(mismatches)} mismatching samples`}`,
  );

  const summary = {
    backed_up_samples: backedUp,
    restored_samples: restore.samples,
    source_samples: expected.samples,
    mismatches,
    stored_bytes: backup.stored_bytes,
    stored_bytes_per_sample: backedUp > 0 ? Math.round(((backup.stored_bytes ?? 0) / backedUp) * 1000) / 1000 : null,
    backup_seconds: Math.round(backup.seconds * 100) / 100,
    restore_seconds: Math.round(restore.seconds * 100) / 100,
    shards: backup.shards,
  };
  say(JSON.stringify(summary));
  await Promise.all([a.stop(), b.stop()]);
  await rm(work, { recursive: true, force: true });
  return mismatches === 0 && backedUp === expected.samples && restore.samples === backedUp ? 0 : 1;
}

main()
  .then((code) => {
    process.exitCode = code;
  })
  .catch((err: unknown) => {
    process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(() => stopAllProcesses());
