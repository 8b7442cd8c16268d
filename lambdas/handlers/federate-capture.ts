/**
 * FederateCapture: {source} → FederateCaptureOutput. Run by a schedule every minute for a
 * federate-mode source: captures /federate at the configured interval for one schedule period
 * (core/federate/capture.ts commits each snapshot as it goes and compacts every completed
 * window), leaving the rest of the invocation for the compaction. Fetches that failed or a
 * compaction left undone fail the invocation, after what was captured is committed.
 */
import middy from '@middy/core';
import { InputError } from '../core/errors';
import { captureCounts, runCapture, type CaptureCounts } from '../core/federate/capture';
import { formatDuration } from '../core/time';
import { findFederateSource } from '../adapters/runtime-config';
import { FEDERATE_CAPTURE } from './contracts';
import { defaultDeps, type HandlerDeps } from './deps';
import { CaptureIncompleteError } from './errors';
import { commonMiddleware, timeoutGuard, type HandlerContext, type RunOptions } from './middleware';
import { validateFederateCaptureInput, type FederateCaptureInput } from '../schemas/tasks';

/** The schedule's period: one invocation captures this long, so consecutive ones tile the time. */
export const CAPTURE_PERIOD_MS = 60_000;
/** Kept free after the capture for compacting a completed window (reading its snapshots back). */
export const COMPACTION_RESERVE_MS = 30_000;

export type FederateCaptureOutput = { readonly source: string } & Readonly<CaptureCounts>;

export function createHandler(deps: HandlerDeps = defaultDeps()) {
  async function run(
    input: FederateCaptureInput,
    context: HandlerContext,
    { signal }: RunOptions,
  ): Promise<FederateCaptureOutput> {
    const config = deps.config();
    const source = findFederateSource(config, input.source);
    const budgetMs = context.getRemainingTimeInMillis() - deps.timeoutMarginMs - COMPACTION_RESERVE_MS;
    const durationMs = Math.min(CAPTURE_PERIOD_MS, budgetMs);
    if (durationMs < source.intervalMs)
      throw new InputError(
        `${FEDERATE_CAPTURE} has ${formatDuration(Math.max(0, budgetMs))} to capture, less than the interval ${formatDuration(source.intervalMs)}: ` +
          `give the function a timeout of at least ${formatDuration(CAPTURE_PERIOD_MS + COMPACTION_RESERVE_MS + deps.timeoutMarginMs)}`,
      );
    const credentials = source.credentialsSecretName
      ? await deps.secrets.credentials(source.credentialsSecretName)
      : undefined;
    const report = await runCapture(
      {
        scraper: deps.scraper(source.url, credentials),
        store: deps.store(config),
        nowMs: deps.nowMs,
        sleep: deps.sleep,
        signal,
        onProgress: (line) => context.log.info(line),
      },
      {
        source: source.name,
        selectors: source.selectors.length === 0 ? [''] : source.selectors,
        intervalMs: source.intervalMs,
        durationMs,
        shardLengthMs: source.shardLengthMs,
      },
    );
    if (report.failed_fetches > 0 || report.failed_compactions > 0)
      throw new CaptureIncompleteError(
        `capture of ${source.name} is incomplete: ${report.failed_fetches} of ${report.fetches} fetches failed, ` +
          `${report.failed_compactions} compactions failed (their snapshots are kept for the next run); ` +
          `${report.snapshots} snapshots were committed. First error: ${report.errors[0] ?? '(none)'}`,
      );
    return { source: source.name, ...captureCounts(report) };
  }

  return middy(run, timeoutGuard(FEDERATE_CAPTURE, deps)).use(
    commonMiddleware(FEDERATE_CAPTURE, deps, validateFederateCaptureInput),
  );
}

export const handler = createHandler();
