import { parseTime, requireBefore } from '../lambdas/core/time';
import { requireSources, scanAllManifests } from '../lambdas/core/manifest';
import { findGaps, gapsWithinSpan } from '../lambdas/core/restore/coverage';
import { verifyShard, summarize, unreadableManifest, type ShardVerification } from '../lambdas/core/verify';
import { validateSourceName } from '../lambdas/core/shard';
import { openStore } from '../lambdas/adapters/open-store';
import { storeOptions } from './store-flags';
import { openSource } from './source';
import { createProgress } from './progress';
import { EXIT, duringRun, formatCount, gapPairs, printJson, warnIncomplete } from './output';

interface VerifyFlags {
  store: string;
  from?: string;
  to?: string;
  against: string[];
  replicas?: string;
  replicaLabel?: string[];
  sigv4Region?: string;
  sigv4Service?: string;
  sourceName: string[];
  s3Endpoint?: string;
  region?: string;
  json?: boolean;
}

export async function verifyCommand(flags: VerifyFlags): Promise<void> {
  const nowMs = Date.now();
  const fromMs = flags.from === undefined ? -Infinity : parseTime(flags.from, nowMs, '--from');
  const toMs = flags.to === undefined ? Infinity : parseTime(flags.to, nowMs, '--to');
  requireBefore(fromMs, toMs, flags.from, flags.to);
  const sources = flags.sourceName.map(validateSourceName);
  const store = openStore(flags.store, storeOptions(flags));
  const against =
    flags.against.length === 0
      ? undefined
      : openSource(
          flags.against,
          {
            replicas: flags.replicas,
            replicaLabel: flags.replicaLabel,
            sigv4Region: flags.sigv4Region,
            sigv4Service: flags.sigv4Service,
          },
          120_000,
          { flag: '--against', auth: '$PROMVAULT_BASIC_AUTH or $PROMVAULT_BEARER_TOKEN' },
        );
  await against?.probe((warning) => process.stderr.write(`warning: ${warning}\n`));
  await store.checkReadable();
  const known = await requireSources(store, sources);

  const wanted = (source: string) => sources.length === 0 || sources.includes(source);
  const scan = await scanAllManifests(store);
  const manifests = scan.manifests.filter((m) => m.end_ms > fromMs && m.start_ms < toMs && wanted(m.source));
  const unreadable = scan.unreadable.filter((u) => wanted(u.key.split('/')[1] ?? ''));
  // Given a range, every part of it must be covered; without one, holes between a source's
  // shards are reported but are not a failure (nothing was asked of them).
  const ranged = flags.from !== undefined && flags.to !== undefined;
  const checked =
    sources.length > 0 ? sources : manifests.length > 0 ? [...new Set(manifests.map((m) => m.source))] : known;
  const gaps = ranged ? findGaps({ startMs: fromMs, endMs: toMs }, checked, manifests) : gapsWithinSpan(manifests);
  warnIncomplete(gaps);

  const progress = createProgress('verify', !flags.json);
  progress.start(manifests.length);
  const results: ShardVerification[] = unreadable.map(unreadableManifest);
  await duringRun(async () => {
    try {
      for (const m of manifests) {
        results.push(await verifyShard(store, m, against?.reader));
        progress.update(results.length, `${results.at(-1)!.verdict} ${m.object_key}`);
      }
    } finally {
      progress.stop();
    }
  });
  const report = summarize(results);
  for (const r of results.filter((x) => x.verdict !== 'ok')) {
    process.stderr.write(`${r.verdict}: ${r.key}\n${r.problems.map((p) => `  ${p}\n`).join('')}`);
  }
  if (flags.json) {
    printJson({
      ...report,
      results: report.results.filter((r) => r.verdict !== 'ok'),
      gaps: gapPairs(gaps),
      gap_details: gaps,
    });
  } else {
    process.stdout.write(
      `verified ${report.shards} shards in ${store.location}${against ? ` against ${flags.against.join(' + ')}` : ''}: ${report.ok} ok, ${report.corrupt} corrupt, ${report.missing} missing, ${formatCount(report.samples)} samples, ${formatCount(report.mismatches)} mismatches${gaps.length > 0 ? `, ${gaps.length} gaps` : ''}\n`,
    );
  }
  process.exitCode = report.ok !== report.shards || (ranged && gaps.length > 0) ? EXIT.incomplete : EXIT.done;
}
