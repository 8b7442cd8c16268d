/**
 * `promvault federate`: capture a Prometheus' /federate every interval into snapshot shards and
 * compact each completed window into one normal shard (lambdas/core/federate/).
 */
import { InputError } from '../lambdas/core/errors';
import { formatDuration, parseDuration, parseTimeout, sleep } from '../lambdas/core/time';
import { formatSelector, parseSelector } from '../lambdas/core/prom/selector';
import { captureCounts, runCapture, type CaptureInput } from '../lambdas/core/federate/capture';
import { HttpFederateScraper } from '../lambdas/adapters/prometheus-federate';
import { openStore } from '../lambdas/adapters/open-store';
import { storeOptions, type StoreFlags } from './store-flags';
import { parseHeaders, remoteReadUrl, resolveAuth, sourceName } from './source';
import { duringRun, EXIT, formatCount, printJson } from './output';

interface FederateFlags extends StoreFlags {
  source: string;
  store: string;
  match: string[];
  interval: string;
  duration?: string;
  shardLength: string;
  sourceName?: string;
  basicAuth?: string;
  basicAuthFile?: string;
  bearerTokenFile?: string;
  header?: string[];
  timeout: string;
  json?: boolean;
}

/** Below this, captures would mostly repeat themselves: no Prometheus scrapes faster. */
const MIN_INTERVAL_MS = 1000;

export function parseCaptureInput(flags: FederateFlags): CaptureInput {
  const intervalMs = parseDuration(flags.interval, '--interval');
  if (intervalMs < MIN_INTERVAL_MS) {
    throw new InputError(
      `--interval ${flags.interval} is shorter than ${formatDuration(MIN_INTERVAL_MS)}: give the capture period, e.g. --interval 15s (match the scrape interval for every sample)`,
    );
  }
  const shardLengthMs = parseDuration(flags.shardLength, '--shard-length');
  if (shardLengthMs < intervalMs) {
    throw new InputError(
      `--shard-length ${flags.shardLength} is shorter than --interval ${flags.interval}: a window would hold at most one snapshot; use a shard length of at least the interval, e.g. 1h`,
    );
  }
  let durationMs: number | undefined;
  if (flags.duration !== undefined) {
    durationMs = parseDuration(flags.duration, '--duration');
    if (durationMs === 0) {
      throw new InputError(
        '--duration 0 captures nothing: give how long to capture, e.g. 10m, or leave it out to run until stopped',
      );
    }
  }
  return {
    source: sourceName({ source: [flags.source], sourceName: flags.sourceName }),
    selectors: flags.match.length === 0 ? [''] : [...new Set(flags.match.map((m) => formatSelector(parseSelector(m))))],
    intervalMs,
    shardLengthMs,
    ...(durationMs !== undefined ? { durationMs } : {}),
  };
}

export async function federateCommand(flags: FederateFlags): Promise<void> {
  // Everything the user typed is checked before any connection or write.
  remoteReadUrl(flags.source);
  const input = parseCaptureInput(flags);
  const timeoutMs = parseTimeout(flags.timeout, '--timeout');
  const scraper = new HttpFederateScraper({
    url: flags.source,
    ...resolveAuth(flags, ''),
    headers: parseHeaders(flags.header, '--header'),
    timeoutMs,
  });
  const store = openStore(flags.store, storeOptions(flags));
  if (flags.match.length === 0) {
    process.stderr.write(
      `warning: no --match: every series ({__name__=~".+"}) is fetched each interval, which is heavy on a large Prometheus; narrow it with --match\n`,
    );
  }
  await scraper.probe();
  await store.check();

  const stop = new AbortController();
  const onSignal = () => stop.abort(new Error('stopped by a signal'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const report = await duringRun(() =>
    runCapture(
      {
        scraper,
        store,
        nowMs: Date.now,
        sleep,
        signal: stop.signal,
        onProgress: (line) => process.stderr.write(`${line}\n`),
      },
      input,
    ),
  ).finally(() => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  });

  if (flags.json) {
    printJson({
      source: input.source,
      store: store.location,
      endpoint: scraper.endpoint,
      ...captureCounts(report),
      metric_families: report.metadata.length,
      errors: report.errors,
    });
  } else {
    process.stdout.write(
      [
        `federate capture of ${scraper.endpoint} as ${input.source} into ${store.location}`,
        `  snapshots  ${report.snapshots} committed, ${report.failed_fetches} of ${report.fetches} fetches failed`,
        `  samples    ${formatCount(report.samples)} in ${formatCount(report.series)} series`,
        `  compacted  ${report.compacted_shards} shards (${report.failed_compactions} failed), ${report.pending_windows} windows waiting for a later run`,
      ].join('\n') + '\n',
    );
  }
  if (report.failed_compactions > 0) process.exitCode = EXIT.failed;
  else if (report.failed_fetches > 0) process.exitCode = EXIT.incomplete;
}
