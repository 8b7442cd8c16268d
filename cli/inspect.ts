import { openStore } from '../lambdas/adapters/open-store';
import { storeOptions } from './store-flags';
import { requireSources, scanAllManifests } from '../lambdas/core/manifest';
import { gapsWithinSpan } from '../lambdas/core/restore/coverage';
import { formatIso } from '../lambdas/core/time';
import { validateSourceName } from '../lambdas/core/shard';
import { EXIT, formatBytes, formatCount, gapPairs, printJson, warnIncomplete } from './output';

interface InspectFlags {
  store: string;
  sourceName?: string;
  s3Endpoint?: string;
  region?: string;
  json?: boolean;
}

export async function inspectCommand(flags: InspectFlags): Promise<void> {
  const source = flags.sourceName === undefined ? undefined : validateSourceName(flags.sourceName);
  const store = openStore(flags.store, storeOptions(flags));
  await store.checkReadable();
  await requireSources(store, source === undefined ? [] : [source]);
  const { manifests, unreadable } = await scanAllManifests(store, source);
  // Holes between a source's first and last shard: what a restore of that span would miss.
  const gaps = gapsWithinSpan(manifests);
  warnIncomplete(gaps, unreadable);
  if (unreadable.length > 0) process.exitCode = EXIT.incomplete;
  const shards = manifests.map((m) => ({
    source: m.source,
    start: formatIso(m.start_ms),
    end: formatIso(m.end_ms),
    start_ms: m.start_ms,
    end_ms: m.end_ms,
    selector: m.selector,
    complete: m.complete,
    series: m.series,
    samples: m.samples,
    stored_bytes: m.stored_bytes,
    key: m.object_key,
  }));
  const totals = {
    shards: shards.length,
    samples: shards.reduce((a, s) => a + s.samples, 0),
    stored_bytes: shards.reduce((a, s) => a + s.stored_bytes, 0),
  };
  if (flags.json) {
    printJson({
      store: store.location,
      ...totals,
      shard_list: shards,
      gaps: gapPairs(gaps),
      gap_details: gaps,
      unreadable_manifests: unreadable,
    });
    return;
  }
  process.stdout.write(
    `${store.location}: ${totals.shards} committed shards, ${formatCount(totals.samples)} samples, ${formatBytes(totals.stored_bytes)}` +
      `${gaps.length > 0 ? `, ${gaps.length} gaps` : ''}${unreadable.length > 0 ? `, ${unreadable.length} corrupt manifests` : ''}\n`,
  );
  for (const s of shards) {
    process.stdout.write(
      `  ${s.source}  ${s.start} → ${s.end}  ${s.selector || '(all series)'}  ${formatCount(s.series)} series  ${formatCount(s.samples)} samples  ${formatBytes(s.stored_bytes)}${s.complete ? '' : '  (window was open: re-pulled next run)'}\n`,
    );
  }
}
