import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { InputError } from '../lambdas/core/errors';
import { parseTime, formatIso } from '../lambdas/core/time';
import { parseSelector } from '../lambdas/core/prom/selector';
import { planRestore, type RestorePlan } from '../lambdas/core/restore/plan';
import { runRestore } from '../lambdas/core/restore/run';
import { fetchVerified } from '../lambdas/core/restore/fetch';
import { filterPieces } from '../lambdas/core/restore/filter';
import { toOpenMetrics, type ExportCounts } from '../lambdas/core/restore/export-openmetrics';
import { decodeShard } from '../lambdas/core/format';
import { validateSourceName } from '../lambdas/core/shard';
import type { ObjectStore } from '../lambdas/core/ports';
import type { LabelMatcher } from '../lambdas/core/types';
import { openStore } from '../lambdas/adapters/open-store';
import { HttpRemoteWriter } from '../lambdas/adapters/remote-write-http';
import { parseBasicAuth, parseHeaders, readToken } from './source';
import { parseConcurrency } from './backup';
import { createProgress } from './progress';
import { formatBytes, formatCount, printJson } from './output';

interface SelectionFlags {
  store: string;
  from: string;
  to: string;
  match: string[];
  sourceName: string[];
  s3Endpoint?: string;
  region?: string;
  json?: boolean;
}

interface Selection {
  store: ObjectStore;
  fromMs: number;
  toMs: number;
  selectorGroups: LabelMatcher[][];
  plan: RestorePlan;
}

/** Flags shared by restore and export, validated in full before anything is read or written. */
async function select(flags: SelectionFlags): Promise<Selection> {
  const nowMs = Date.now();
  const fromMs = parseTime(flags.from, nowMs, '--from');
  const toMs = parseTime(flags.to, nowMs, '--to');
  if (fromMs >= toMs)
    throw new InputError(`--from ${flags.from} is not before --to ${flags.to}: swap them or widen the range`);
  const selectorGroups = flags.match.map((m) => parseSelector(m));
  const sources = flags.sourceName.map(validateSourceName);
  const store = openStore(flags.store, { s3Endpoint: flags.s3Endpoint, region: flags.region });
  await store.check();
  const plan = await planRestore(store, { sources, fromMs, toMs });
  return { store, fromMs, toMs, selectorGroups, plan };
}

interface RestoreFlags extends SelectionFlags {
  target?: string;
  dryRun?: boolean;
  batchSamples: string;
  concurrency: string;
  targetBasicAuth?: string;
  targetBearerTokenFile?: string;
  targetHeader: string[];
}

function targetUrl(text: string | undefined): string {
  if (!text)
    throw new InputError(
      '--target is required (the remote-write URL, e.g. http://prometheus:9090/api/v1/write) unless --dry-run',
    );
  try {
    const url = new URL(text);
    if (url.protocol === 'http:' || url.protocol === 'https:') return url.toString();
  } catch {
    // fall through to the message below
  }
  throw new InputError(
    `--target ${JSON.stringify(text)} is not an http(s) URL: give the remote-write URL, e.g. http://prometheus:9090/api/v1/write`,
  );
}

export async function restoreCommand(flags: RestoreFlags): Promise<void> {
  const target = flags.dryRun ? flags.target : targetUrl(flags.target);
  const batchSamples = parseConcurrency(flags.batchSamples, '--batch-samples', 1_000_000);
  const concurrency = parseConcurrency(flags.concurrency, '--concurrency', 64);
  const headers = parseHeaders(flags.targetHeader, '--target-header');
  const basicAuth = parseBasicAuth(flags.targetBasicAuth, '--target-basic-auth');
  const bearerToken = readToken(flags.targetBearerTokenFile, '--target-bearer-token-file');
  const sel = await select(flags);
  const { plan } = sel;

  if (flags.dryRun || !target) {
    const summary = {
      dry_run: true,
      shards: plan.shards.length,
      series: plan.series,
      samples: plan.samples,
      stored_bytes: plan.stored_bytes,
      shard_keys: plan.shards.map((m) => m.object_key),
    };
    if (flags.json) printJson(summary);
    else {
      process.stdout.write(
        `restore plan for [${formatIso(sel.fromMs)}, ${formatIso(sel.toMs)}) from ${sel.store.location}: ${plan.shards.length} shards, up to ${formatCount(plan.series)} shard-series and ${formatCount(plan.samples)} samples, ${formatBytes(plan.stored_bytes)} to read (nothing written: --dry-run)\n`,
      );
      for (const m of plan.shards) process.stdout.write(`  ${m.object_key}  ${formatCount(m.samples)} samples\n`);
    }
    return;
  }

  const writer = new HttpRemoteWriter({ url: target, headers, basicAuth, bearerToken });
  const progress = createProgress('restore', !flags.json);
  progress.start(plan.shards.length);
  const report = await runRestore(
    {
      store: sel.store,
      writer,
      onShardDone: (r, done) =>
        progress.update(done, 'error' in r ? `FAILED ${r.key}` : `${formatCount(r.samples)} samples`),
    },
    plan.shards,
    { window: { startMs: sel.fromMs, endMs: sel.toMs }, selectorGroups: sel.selectorGroups },
    { batchSamples, concurrency },
  ).finally(() => progress.stop());

  for (const f of report.failures) process.stderr.write(`shard ${f.key} failed: ${f.error}\n`);
  if (flags.json) printJson({ target, ...report });
  else {
    process.stdout.write(
      `restored ${formatCount(report.samples)} samples of ${formatCount(report.series)} shard-series from ${report.shards - report.failed_shards}/${report.shards} shards into ${target} in ${report.seconds.toFixed(1)} s (${report.requests} requests)\n`,
    );
  }
  if (report.failed_shards > 0) process.exitCode = 1;
}

interface ExportFlags extends SelectionFlags {
  format: string;
  out: string;
}

export async function exportCommand(flags: ExportFlags): Promise<void> {
  if (flags.format !== 'openmetrics') {
    throw new InputError(`--format ${flags.format} is not supported: use --format openmetrics`);
  }
  const sel = await select(flags);
  const counts: ExportCounts = { samples: 0, series: 0, stale_markers_dropped: 0 };
  const toStdout = flags.out === '-';
  const out = toStdout ? process.stdout : createWriteStream(flags.out);
  const window = { startMs: sel.fromMs, endMs: sel.toMs };
  const store = sel.store;
  const shards = sel.plan.shards;
  async function* pieces() {
    for (const m of shards) yield* filterPieces(decodeShard(await fetchVerified(store, m)), window, sel.selectorGroups);
  }
  for await (const text of toOpenMetrics(pieces(), counts)) {
    if (!out.write(text)) await once(out, 'drain');
  }
  if (!toStdout) {
    out.end();
    await once(out, 'finish');
  }
  const summary = { shards: shards.length, ...counts, out: flags.out };
  // With --out - stdout carries the data, so the summary goes to stderr.
  const line = flags.json
    ? JSON.stringify(summary)
    : `exported ${formatCount(counts.samples)} samples of ${formatCount(counts.series)} shard-series from ${shards.length} shards to ${flags.out}` +
      (counts.stale_markers_dropped > 0
        ? ` (${counts.stale_markers_dropped} staleness markers left out: OpenMetrics cannot carry them)`
        : '');
  (toStdout ? process.stderr : process.stdout).write(line + '\n');
}
