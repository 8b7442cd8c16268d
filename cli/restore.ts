import { createWriteStream } from 'node:fs';
import { access, constants, rename, stat, unlink } from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { InputError } from '../lambdas/core/errors';
import { parseTime, parseTimeout, formatIso, requireBefore } from '../lambdas/core/time';
import { parseSelector } from '../lambdas/core/prom/selector';
import { planRestore, type RestorePlan } from '../lambdas/core/restore/plan';
import { runRestore, type RestoreFailure } from '../lambdas/core/restore/run';
import { fetchVerified } from '../lambdas/core/restore/fetch';
import { SliceFilter } from '../lambdas/core/restore/filter';
import { toOpenMetrics, type ExportCounts } from '../lambdas/core/restore/export-openmetrics';
import { decodeShard } from '../lambdas/core/format';
import { MetadataIndex } from '../lambdas/core/metadata';
import { CorruptShardError, ObjectNotFoundError } from '../lambdas/core/errors';
import { validateSourceName } from '../lambdas/core/shard';
import { elideQuotedValues } from '../lambdas/core/labels';
import type { ObjectStore } from '../lambdas/core/ports';
import type { LabelMatcher } from '../lambdas/core/types';
import { openStore } from '../lambdas/adapters/open-store';
import { storeOptions } from './store-flags';
import { HttpRemoteWriter } from '../lambdas/adapters/remote-write-http';
import { parseHeaders, registerUrlSecret, resolveAuth, resolveSigner } from './source';
import { parseConcurrency, parseRetries, retryWarning } from './backup';
import { createProgress } from './progress';
import { EXIT, duringRun, formatBytes, formatCount, gapPairs, printJson, warnIncomplete, writeData } from './output';
import { ReportFile, readResume } from './restore-report';
import { readBackUrl, verifyRestored, type ReadBackReport } from '../lambdas/core/restore/verify-back';
import { HttpRemoteReader } from '../lambdas/adapters/prometheus-remote-read';

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
  requireBefore(fromMs, toMs, flags.from, flags.to);
  const selectorGroups = flags.match.map((m) => parseSelector(m));
  const sources = flags.sourceName.map(validateSourceName);
  const store = openStore(flags.store, storeOptions(flags));
  await store.checkReadable();
  const plan = await planRestore(store, { sources, fromMs, toMs });
  return { store, fromMs, toMs, selectorGroups, plan };
}

interface RestoreFlags extends SelectionFlags {
  target?: string;
  dryRun?: boolean;
  batchSamples: string;
  concurrency: string;
  targetBasicAuth?: string;
  targetBasicAuthFile?: string;
  targetBearerTokenFile?: string;
  targetHeader: string[];
  targetTimeout?: string;
  retries?: string;
  sigv4Region?: string;
  sigv4Service?: string;
  report?: string;
  resume?: string;
  verify?: boolean;
  verifySource?: string;
}

/** Where a restore is read back: --verify-source, or the target's own remote-read URL. */
function readBackFlag(target: string, verifySource: string | undefined): string {
  if (verifySource !== undefined) return targetUrl(verifySource, '--verify-source');
  const derived = readBackUrl(target);
  if (derived !== undefined) return derived;
  const url = new URL(target);
  throw new InputError(
    `--verify cannot tell the remote-read URL of --target ${url.origin}${url.pathname}: give it with --verify-source (e.g. http://prometheus:9090/api/v1/read)`,
  );
}

function targetUrl(text: string | undefined, flag = '--target'): string {
  if (!text)
    throw new InputError(
      '--target is required (the remote-write URL, e.g. http://prometheus:9090/api/v1/write) unless --dry-run',
    );
  try {
    const url = new URL(text);
    registerUrlSecret(url);
    if (url.protocol === 'http:' || url.protocol === 'https:') return url.toString();
  } catch {
    // fall through to the message below
  }
  throw new InputError(
    `${flag} ${JSON.stringify(text)} is not an http(s) URL: give the remote-${flag === '--target' ? 'write' : 'read'} URL, e.g. http://prometheus:9090/api/v1/${flag === '--target' ? 'write' : 'read'}`,
  );
}

export async function restoreCommand(flags: RestoreFlags): Promise<void> {
  const target = flags.dryRun ? flags.target : targetUrl(flags.target);
  const batchSamples = parseConcurrency(flags.batchSamples, '--batch-samples', 1_000_000);
  const concurrency = parseConcurrency(flags.concurrency, '--concurrency', 64);
  const targetTimeoutMs =
    flags.targetTimeout === undefined ? undefined : parseTimeout(flags.targetTimeout, '--target-timeout');
  const retry = parseRetries(flags.retries);
  const headers = parseHeaders(flags.targetHeader, '--target-header');
  const { basicAuth, bearerToken } = resolveAuth(
    {
      basicAuth: flags.targetBasicAuth,
      basicAuthFile: flags.targetBasicAuthFile,
      bearerTokenFile: flags.targetBearerTokenFile,
    },
    'target-',
  );
  const signer = target ? resolveSigner(flags, target, { basicAuth, bearerToken }, 'target') : undefined;
  const sel = await select(flags);
  const { plan } = sel;
  const coverage = coverageOf(plan);
  warnIncomplete(plan.gaps, plan.unreadable);

  if (flags.dryRun || !target) {
    const summary = {
      dry_run: true,
      shards: plan.shards.length,
      series: plan.series,
      samples: plan.samples,
      stored_bytes: plan.stored_bytes,
      shard_keys: plan.shards.map((m) => m.object_key),
      gaps: coverage.gaps,
      gap_details: coverage.gap_details,
      unreadable_manifests: plan.unreadable,
    };
    if (coverage.gaps.length > 0 || plan.unreadable.length > 0) process.exitCode = EXIT.incomplete;
    if (flags.json) printJson(summary);
    else {
      process.stdout.write(
        `restore plan for [${formatIso(sel.fromMs)}, ${formatIso(sel.toMs)}) from ${sel.store.location}: ${plan.shards.length} shards, up to ${formatCount(plan.series)} shard-series and ${formatCount(plan.samples)} samples, ${formatBytes(plan.stored_bytes)} to read (nothing written: --dry-run)\n`,
      );
      for (const m of plan.shards) process.stdout.write(`  ${m.object_key}  ${formatCount(m.samples)} samples\n`);
    }
    return;
  }

  const scope = {
    store: flags.store,
    from_ms: sel.fromMs,
    to_ms: sel.toMs,
    match: flags.match,
    source_names: flags.sourceName,
    target,
  };
  const input = { window: { startMs: sel.fromMs, endMs: sel.toMs }, selectorGroups: sel.selectorGroups };
  const resumed = await readResume(flags.resume, scope);
  const readBack = flags.verify
    ? new HttpRemoteReader({
        url: readBackFlag(target, flags.verifySource),
        headers,
        basicAuth,
        bearerToken,
        signer,
        input: {
          flag: flags.verifySource === undefined ? '--target' : '--verify-source',
          auth: '--target-basic-auth-file, --target-bearer-token-file, --target-header',
        },
      })
    : undefined;
  const skipped = new Set(resumed.map((c) => c.key));
  const shards = plan.reads.filter((m) => !skipped.has(m.object_key));
  // Without --report, a resumed restore keeps its progress in the report it resumed from.
  const reportFile = new ReportFile(flags.report ?? flags.resume, scope, resumed);
  const writer = new HttpRemoteWriter({
    url: target,
    headers,
    basicAuth,
    bearerToken,
    timeoutMs: targetTimeoutMs,
    signer,
  });
  const progress = createProgress('restore', !flags.json);
  progress.start(shards.length);
  const written: Promise<void>[] = [];
  const runReport = await duringRun(() =>
    runRestore(
      {
        store: sel.store,
        writer,
        retry,
        onRetry: (shard, err, attempt, delayMs) =>
          process.stderr.write(retryWarning(`shard ${shard.object_key}`, err, attempt, delayMs)),
        onShardDone: (r, done) => {
          written.push(reportFile.shardDone(r));
          progress.update(done, 'error' in r ? `FAILED ${r.key}` : `${formatCount(r.samples)} samples`);
        },
      },
      shards,
      input,
      { batchSamples, concurrency },
    ).finally(() => progress.stop()),
  );
  await Promise.all(written);
  const ran = reportFile.final(runReport);
  const failures = [...ran.failures, ...coverage.unreadable_failures];
  const whole = { ...ran, shards: ran.shards + plan.unreadable.length, failed_shards: failures.length, failures };
  const readBackReport: ReadBackReport | undefined = readBack
    ? await verifyRestored(sel.store, readBack, plan.shards, input, new Set(whole.rejected_series.map((r) => r.labels)))
    : undefined;
  const report = { ...whole, ...readBackReport, gaps: coverage.gaps, gap_details: coverage.gap_details };
  const mismatches = readBackReport?.mismatches ?? 0;
  await reportFile.finish(report);

  for (const f of ran.failures) process.stderr.write(`shard ${f.key} failed: ${f.error}\n`);
  if (readBackReport && mismatches > 0) {
    process.stderr.write(
      `read back from the target, ${formatCount(mismatches)} samples differ from the backup:\n${readBackReport.mismatch_examples.map((p) => `  ${p}\n`).join('')}`,
    );
  }
  for (const r of report.rejected_series)
    process.stderr.write(
      `rejected by the target: ${elideQuotedValues(r.labels)} (${formatCount(r.samples)} samples): ${elideQuotedValues(r.reason)}\n`,
    );
  for (const m of report.metadata_rejected)
    process.stderr.write(
      `the target refused the metric metadata of shard ${m.key} (its samples are written): ${m.error}\n`,
    );
  if (flags.json) printJson(report);
  else {
    process.stdout.write(
      `restored ${formatCount(report.samples)} samples of ${formatCount(report.series)} shard-series from ${report.shards - report.failed_shards}/${report.shards} shards into ${target} in ${report.seconds.toFixed(1)} s (${report.requests} requests)` +
        duplicatesNote(report.duplicate_samples_skipped) +
        gapsNote(coverage.gaps.length) +
        '\n',
    );
  }
  process.exitCode = exitCodeOf(
    failures,
    coverage.gaps.length + report.rejected_samples + mismatches + report.metadata_rejected.length,
  );
}

/** The coverage fields of a restore or export report: gaps, and unreadable manifests as failed shards. */
function coverageOf(plan: RestorePlan) {
  return {
    gaps: gapPairs(plan.gaps),
    gap_details: plan.gaps,
    unreadable_failures: plan.unreadable.map((u): RestoreFailure => ({
      key: u.key,
      error: u.error,
      error_name: CorruptShardError.name,
      samples: 0,
      requests: 0,
    })),
  };
}

/**
 * 1 when something beyond a shard's own bytes failed (the target, the network); 3 when only
 * shards or coverage fell short, or `shortfalls` (gaps, rejected or mismatched samples) is not 0.
 */
function exitCodeOf(failures: readonly RestoreFailure[], shortfalls: number): number {
  const shardLocal = new Set([CorruptShardError.name, ObjectNotFoundError.name]);
  if (failures.some((f) => !shardLocal.has(f.error_name))) return EXIT.failed;
  return failures.length > 0 || shortfalls > 0 ? EXIT.incomplete : EXIT.done;
}

function duplicatesNote(n: number): string {
  return n > 0 ? `; ${formatCount(n)} samples held by overlapping shards were written once` : '';
}

function gapsNote(n: number): string {
  return n > 0 ? `; ${n} gaps in the range have no backup (see the warnings)` : '';
}

interface ExportFlags extends SelectionFlags {
  format: string;
  out: string;
}

/** Bad input before any work: --out must name a file in a directory that exists and can be written. */
async function checkOutPath(out: string): Promise<void> {
  const dir = path.dirname(path.resolve(out));
  const dirInfo = await stat(dir).catch(() => undefined);
  if (!dirInfo?.isDirectory()) {
    throw new InputError(`--out ${out}: directory ${dir} does not exist: create it first, or write to another path`);
  }
  await access(dir, constants.W_OK).catch(() => {
    throw new InputError(`--out ${out}: directory ${dir} is not writable: choose a directory you can write to`);
  });
  if ((await stat(out).catch(() => undefined))?.isDirectory()) {
    throw new InputError(`--out ${out} is a directory: name a file, e.g. ${path.join(out, 'backup.om')}`);
  }
}

/** A hidden sibling of `out`, so the final rename stays on one file system. */
function partialPathOf(out: string): string {
  const abs = path.resolve(out);
  return path.join(
    path.dirname(abs),
    `.${path.basename(abs)}.partial-${process.pid}-${randomBytes(4).toString('hex')}`,
  );
}

export async function exportCommand(flags: ExportFlags): Promise<void> {
  if (flags.format !== 'openmetrics') {
    throw new InputError(`--format ${flags.format} is not supported: use --format openmetrics`);
  }
  const toStdout = flags.out === '-';
  if (!toStdout) await checkOutPath(flags.out);
  const sel = await select(flags);
  const { plan } = sel;
  const coverage = coverageOf(plan);
  warnIncomplete(plan.gaps, plan.unreadable);
  const counts: ExportCounts = { samples: 0, series: 0, stale_markers_dropped: 0, metadata_families: 0 };
  const metadata = new MetadataIndex();
  // The file appears under its name only once complete: a killed or failed export leaves no partial file there.
  const partial = toStdout ? undefined : partialPathOf(flags.out);
  const out = partial ? createWriteStream(partial, { flags: 'wx' }) : process.stdout;
  const window = { startMs: sel.fromMs, endMs: sel.toMs };
  const store = sel.store;
  const failures: RestoreFailure[] = [...coverage.unreadable_failures];
  let duplicates = 0;
  async function* pieces() {
    for (const read of plan.reads) {
      let body;
      try {
        body = await fetchVerified(store, read);
      } catch (err) {
        // A shard whose bytes are bad is named and left out; the others are still exported.
        if (!(err instanceof CorruptShardError || err instanceof ObjectNotFoundError)) throw err;
        failures.push({ key: read.object_key, error: err.message, error_name: err.name, samples: 0, requests: 0 });
        process.stderr.write(`shard ${read.object_key} failed: ${err.message}\n`);
        continue;
      }
      const filter = new SliceFilter(window, sel.selectorGroups, read.slice!);
      for await (const piece of decodeShard(body, { onMetadata: (m) => metadata.add(m) })) {
        const kept = filter.keep(piece);
        if (kept) yield kept;
      }
      duplicates += filter.duplicates;
    }
  }
  try {
    await duringRun(async () => {
      for await (const text of toOpenMetrics(pieces(), counts, { metadata })) {
        if (!writeData(out, text)) await once(out, 'drain');
      }
      if (partial) {
        out.end();
        await once(out, 'finish');
        await rename(partial, flags.out);
      }
    });
  } catch (err) {
    if (partial) {
      out.destroy();
      await unlink(partial).catch(() => undefined);
    }
    throw err;
  }
  const shards = plan.reads.length + plan.unreadable.length;
  const summary = {
    shards,
    ...counts,
    out: flags.out,
    duplicate_samples_skipped: duplicates,
    failed_shards: failures.length,
    failures,
    gaps: coverage.gaps,
    gap_details: coverage.gap_details,
  };
  // With --out - stdout carries the data, so the summary goes to stderr.
  const line = flags.json
    ? JSON.stringify(summary)
    : `exported ${formatCount(counts.samples)} samples of ${formatCount(counts.series)} shard-series from ${shards - failures.length}/${shards} shards to ${flags.out}` +
      (counts.stale_markers_dropped > 0
        ? ` (${counts.stale_markers_dropped} staleness markers left out: OpenMetrics cannot carry them)`
        : '') +
      duplicatesNote(duplicates) +
      gapsNote(coverage.gaps.length);
  (toStdout ? process.stderr : process.stdout).write(line + '\n');
  process.exitCode = exitCodeOf(failures, coverage.gaps.length);
}
