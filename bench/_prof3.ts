import { startPrometheusWithHistory } from '../test/harness/history';
import { startPrometheus } from '../test/harness/prometheus';
import { HttpRemoteReader } from '../lambdas/adapters/prometheus-remote-read';
import { HttpRemoteWriter } from '../lambdas/adapters/remote-write-http';
import { DirectoryStore } from '../lambdas/adapters/dir-store';
import { runBackup } from '../lambdas/core/backup/run';
import { planRestore } from '../lambdas/core/restore/plan';
import { runRestore } from '../lambdas/core/restore/run';
import { stopAllProcesses, makeTempDir } from '../test/harness/ports';
async function main() {
  const prom = await startPrometheusWithHistory('bench');
  const store = new DirectoryStore(await makeTempDir('prof'));
  const range = { fromMs: prom.corpus.startMs, toMs: prom.corpus.startMs + prom.corpus.durationMs };
  await runBackup({ reader: new HttpRemoteReader({ url: prom.remoteReadUrl }), store, nowMs: Date.now }, { source: 'b', ...range, shardLengthMs: 3600000, selectors: [], concurrency: 4 });
  await prom.stop();
  const b = await startPrometheus({ outOfOrderWindow: '30d' });
  const plan = await planRestore(store, { sources: [], ...range });
  const t = performance.now();
  const rep = await runRestore({ store, writer: new HttpRemoteWriter({ url: b.remoteWriteUrl }) }, plan.shards, { window: { startMs: range.fromMs, endMs: range.toMs }, selectorGroups: [] }, { batchSamples: 5000, concurrency: 4 });
  console.log('restore', (performance.now() - t).toFixed(0), 'ms', rep.samples);
  await b.stop();
  await stopAllProcesses();
}
main();
