/**
 * RestoreShard: RestoreShardTask → RestoreShardOutput. Fetches one shard, checks its SHA-256,
 * decodes, filters to the range and selectors (and, where shards overlap, to the task's slice),
 * and remote-writes it to the target. Its record
 * (or failure) goes to restores/<runId>/results/<sha256 of its read id>.json, so Report
 * aggregates from the store; a failure is then rethrown for the state machine's Retry/Catch.
 */
import middy from '@middy/core';
import { readManifest } from '../core/manifest';
import { parseSelector } from '../core/prom/selector';
import { restoreShard } from '../core/restore/run';
import type { RestoreShardRecord } from '../core/restore/report';
import { WritePipeline } from '../core/restore/write';
import { readBackUrl, verifyRestored } from '../core/restore/verify-back';
import { InputError } from '../core/errors';
import { secrets } from '../core/redact';
import { refresher } from '../adapters/secrets';
import { HANDLERS, type RestoreShardOutput, type RestoreShardTask } from './contracts';
import { defaultDeps, type HandlerDeps } from './deps';
import { ShardTimeoutError } from './errors';
import { putJson, restoreReadId, restoreResultKey, targetCredentials, targetSigner, withSigner } from './io';
import { commonMiddleware, timeoutGuard, type HandlerContext, type RunOptions } from './middleware';
import { validateRestoreShardTask } from '../schemas/tasks';

export function createHandler(deps: HandlerDeps = defaultDeps()) {
  async function run(
    task: RestoreShardTask,
    context: HandlerContext,
    { signal }: RunOptions,
  ): Promise<RestoreShardOutput> {
    const config = deps.config();
    const store = deps.store(config);
    const finished_at = () => new Date(deps.nowMs()).toISOString();
    const readId = restoreReadId(task);
    // A later read of a shard read once per part has a record of its own.
    const read = readId === task.manifestKey ? {} : { read_id: readId };
    const record = (r: RestoreShardRecord) =>
      putJson(store, restoreResultKey(task.runId, readId), secrets.value({ ...r, ...read }) as RestoreShardRecord);
    try {
      const manifest = await readManifest(store, task.manifestKey);
      const credentials = withSigner(
        await targetCredentials(config, task.target, deps.secrets, context.log),
        targetSigner(config, task.target, deps.signer, context.log),
      );
      const refresh = credentials && refresher(deps.secrets, config.restore.targetSecretName);
      const writer = deps.writer(task.target, credentials, refresh);
      // Before the first sample: a URL that is no receiver fails the shard as bad input.
      await writer.probe?.(signal);
      const pipeline = new WritePipeline(
        writer,
        { batchSamples: config.restore.batchSamples, concurrency: config.restore.concurrency },
        signal,
      );
      const window = { startMs: task.fromMs, endMs: task.toMs };
      const input = { window, selectorGroups: task.selectors.map((s) => parseSelector(s)) };
      const r = await restoreShard(store, manifest, input, pipeline, deps.nowMs, task.slice);
      const { series, samples, requests, seconds, rejected_samples, rejected_series, duplicate_samples_skipped } = r;
      const readBack = task.verify
        ? await verifyRestored(
            store,
            deps.reader(verifySourceOf(task), credentials),
            [manifest],
            input,
            new Set(rejected_series.map((x) => x.labels)),
          )
        : {};
      await record({
        status: 'restored',
        manifest_key: task.manifestKey,
        object_key: r.key,
        series,
        samples,
        requests,
        seconds,
        finished_at: finished_at(),
        rejected_samples,
        rejected_series,
        duplicate_samples_skipped,
        metadata_families: r.metadata_families,
        ...(r.metadata_rejected !== undefined ? { metadata_rejected: r.metadata_rejected } : {}),
        ...readBack,
      });
      return { key: r.key, samples: r.samples, series: r.series, seconds: r.seconds };
    } catch (err) {
      // An abort comes from the timeout guard: record it under the name the state machine sees.
      const error_name = signal.aborted ? ShardTimeoutError.name : err instanceof Error ? err.name : 'Error';
      const error = err instanceof Error ? err.message : String(err);
      await record({
        status: 'failed',
        manifest_key: task.manifestKey,
        error_name,
        error,
        finished_at: finished_at(),
      }).catch((e: unknown) =>
        context.log.warn('could not record the failure', { error: (e as Error).name, message: (e as Error).message }),
      );
      throw err;
    }
  }

  return middy(run, timeoutGuard(HANDLERS.restoreShard, deps)).use(
    commonMiddleware(HANDLERS.restoreShard, deps, validateRestoreShardTask, (t) => ({
      runId: t.runId,
      shard: t.manifestKey,
    })),
  );
}

/** Where a shard is read back: the task's verifySource, or the target's own remote-read URL. */
function verifySourceOf(task: RestoreShardTask): string {
  const url = task.verifySource ?? readBackUrl(task.target);
  if (url === undefined)
    throw new InputError(
      `invalid input: verify is set but the remote-read URL of target ${task.target} is unknown: give verifySource`,
    );
  return url;
}

export const handler = createHandler();
